print("mmgs-bench: not built yet")
