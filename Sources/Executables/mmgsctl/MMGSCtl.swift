import AdminCLI
import ArgumentParser

@main
extension Control {}
