import ArgumentParser
import Topology
import NodeRuntime

@main
struct TopologyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmgs-topology",
        abstract: "MMGS topology node: joins the cluster through its seed managers and serves until SIGTERM.")

    @OptionGroup var options: NodeOptions

    func run() async throws {
        try await NodeBootstrap.run(options: options, module: TopologyModule())
    }
}
