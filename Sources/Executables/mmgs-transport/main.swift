import ArgumentParser
import MMGSTransport
import NodeRuntime

@main
struct TransportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmgs-transport",
        abstract: "MMGS transport node: joins the cluster through its seed managers and serves until SIGTERM.")

    @OptionGroup var options: NodeOptions

    func run() async throws {
        try await NodeBootstrap.run(options: options, module: TransportModule())
    }
}
