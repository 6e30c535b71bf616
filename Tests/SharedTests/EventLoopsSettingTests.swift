import Foundation
import Testing
@testable import MMGSShared
@testable import NodeRuntime

/// `event_loops`: threads per node process, from the file (cluster-wide, then per node), the
/// environment and the command line; a bad value says where and what is allowed.
@Suite("event_loops setting")
struct EventLoopsSettingTests {
    static func file(_ change: (inout [String: Any]) -> Void) throws -> ClusterFile {
        try ClusterFile.parse(Fixtures.data(change), path: "/etc/mmgs/loops.json")
    }

    static func fileError(_ change: (inout [String: Any]) -> Void) -> String? {
        do throws(ConfigurationError) {
            _ = try ClusterFile.parse(Fixtures.data(change), path: "/etc/mmgs/loops.json")
            return nil
        } catch {
            return error.message
        }
    }

    @Test func absentMeansOnePerCore() throws {
        let config = try NodeConfiguration.resolve(role: .router, file: Self.file { _ in }, overrides: ConfigurationOverrides())
        #expect(config.eventLoops == nil)
    }

    @Test func clusterWideThenPerNode() throws {
        let file = try Self.file { document in
            document["event_loops"] = 1
            Fixtures.setNode(&document, 1, "event_loops", 3)  // frontend-1
        }
        #expect(try NodeConfiguration.resolve(role: .router, file: file, overrides: ConfigurationOverrides()).eventLoops == 1)
        #expect(try NodeConfiguration.resolve(role: .frontend, file: file, overrides: ConfigurationOverrides()).eventLoops == 3)
    }

    @Test func environmentThenCommandLineWin() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("loops-\(UUID().uuidString).json").path
        try Fixtures.data { $0["event_loops"] = 1 }.write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fromEnvironment = try NodeOptions.parse(["--config", path]).resolve(role: .router, environment: ["MMGS_EVENT_LOOPS": "2"])
        #expect(fromEnvironment.eventLoops == 2)
        let fromCommandLine = try NodeOptions.parse(["--config", path, "--event-loops", "4"]).resolve(role: .router, environment: ["MMGS_EVENT_LOOPS": "2"])
        #expect(fromCommandLine.eventLoops == 4)
    }

    @Test(arguments: [0, 257, -1])
    func outOfRangeInTheFile(value: Int) throws {
        let message = try #require(Self.fileError { $0["event_loops"] = value })
        #expect(message.contains("/etc/mmgs/loops.json") && message.contains("\"event_loops\" must be an integer between 1 and 256"), "\(message)")
    }

    @Test func wrongTypeOnANode() throws {
        let message = try #require(Self.fileError { Fixtures.setNode(&$0, 2, "event_loops", "two") })
        #expect(message.contains("nodes[2]") && message.contains("event_loops"), "\(message)")
        #expect(Self.fileError { $0["event_loops"] = true } != nil, "true is not a count")
    }

    @Test func badEnvironmentValueNamesTheOption() throws {
        let message = NodeConfigurationTests.resolveError(role: .router, file: try Self.file { _ in }, ["event_loops": "0"])
        #expect(message?.contains("--event-loops or MMGS_EVENT_LOOPS") == true, "\(message ?? "no error")")
    }
}
