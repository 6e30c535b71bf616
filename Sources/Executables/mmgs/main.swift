import ArgumentParser
import Foundation
import Launcher

/// `mmgs run [CLUSTER_FILE]`: start a whole cluster on this machine, one process per node.
struct MMGS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmgs", abstract: "Run an MMGS cluster on this machine.", subcommands: [Run.self], defaultSubcommand: Run.self)

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start every node of a cluster file in the foreground; Ctrl-C stops them all.")
        @Argument(help: "Cluster file.") var clusterFile = "deploy/local/cluster.json"
        @Option(help: "Directory with the mmgs-* executables (default: next to this one).") var bin: String?
        @Option(help: "Directory for node logs.") var logs = "run/local/logs"
        @Flag(help: "Create demo devices alice, bob and carol once the cluster is ready.") var demoDevices = false

        func run() throws {
            let binDirectory = bin ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
            do {
                var options = Launcher.Options(clusterFile: clusterFile, binDirectory: binDirectory, logDirectory: logs)
                if demoDevices { options.demoDevices = [("alice", "alice-pw"), ("bob", "bob-pw"), ("carol", "carol-pw")] }
                let launcher = try Launcher(options: options)
                throw ExitCode(launcher.run())
            } catch let error as ExitCode {
                throw error
            } catch {
                throw ValidationError("\(error)")
            }
        }
    }
}

MMGS.main()
