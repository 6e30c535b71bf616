import ArgumentParser
import MMGSRouter
import NodeRuntime

@main
struct RouterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmgs-router",
        abstract: "MMGS router node: joins the cluster through its seed managers and serves until SIGTERM.")

    @OptionGroup var options: NodeOptions

    func run() async throws {
        try await NodeBootstrap.run(options: options, module: RouterModule())
    }
}
