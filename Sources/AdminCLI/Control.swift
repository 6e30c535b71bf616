import ArgumentParser

/// `mmgsctl`: the operator's command line for an MMGS cluster.
public struct Control: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mmgsctl",
        abstract: "Inspect and operate an MMGS cluster.",
        discussion: "With no flags it talks to the local cluster that `make run` starts.",
        subcommands: [TopologyCommand.self, PathCommand.self, PlacementCommand.self, DeviceCommand.self])

    public init() {}
}
