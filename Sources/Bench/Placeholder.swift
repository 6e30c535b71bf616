// placeholder (replaced by the load generator)
