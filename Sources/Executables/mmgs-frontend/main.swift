import ArgumentParser
import MMGSFrontEnd
import NodeRuntime

@main
struct FrontEndCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmgs-frontend",
        abstract: "MMGS frontend node: joins the cluster through its seed managers and serves until SIGTERM.")

    @OptionGroup var options: NodeOptions

    func run() async throws {
        try await NodeBootstrap.run(options: options, module: FrontEndModule())
    }
}
