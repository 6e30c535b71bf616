import Foundation
@testable import MMGSShared

/// Paths and builders shared by the configuration tests.
enum Fixtures {
    /// The repository root, found from this file's location (Tests/SharedTests/Fixtures.swift).
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()   // SharedTests
        .deletingLastPathComponent()   // Tests
        .deletingLastPathComponent()   // repository root

    static let localClusterPath = repositoryRoot.appendingPathComponent("deploy/local/cluster.json").path
    static let productionExamplePath = repositoryRoot.appendingPathComponent("deploy/production/cluster.example.json").path

    static let secret = "a-cluster-secret-of-32-bytes-ok!"

    /// A valid cluster file as a JSON object; tests mutate a copy to make it invalid.
    static func document() -> [String: Any] {
        [
            "cluster": "unit",
            "domain": "unit.example",
            "secret": secret,
            "log_level": "info",
            "seeds": ["127.0.0.1:7101"],
            "membership": ["probe_interval_ms": 250, "suspicion_timeout_ms": 1000],
            "nodes": [
                ["name": "topology-1", "role": "topology", "etunnel": "127.0.0.1:7101", "http": "127.0.0.1:8101"],
                ["name": "frontend-1", "role": "frontend", "etunnel": "127.0.0.1:7201", "http": "127.0.0.1:8201", "xmpp": "127.0.0.1:5222"],
                ["name": "router-1", "role": "router", "etunnel": "127.0.0.1:7301", "http": "127.0.0.1:8301"],
                ["name": "transport-1", "role": "transport", "etunnel": "127.0.0.1:7401", "http": "127.0.0.1:8401"],
            ],
        ]
    }

    static func data(_ object: Any) -> Data {
        try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    /// `document()` after `change`, serialised.
    static func data(_ change: (inout [String: Any]) -> Void) -> Data {
        var object = document()
        change(&object)
        return data(object)
    }

    /// Replaces field `key` of node `index` (nil removes it).
    static func setNode(_ object: inout [String: Any], _ index: Int, _ key: String, _ value: Any?) {
        var nodes = object["nodes"] as! [[String: Any]]
        nodes[index][key] = value
        object["nodes"] = nodes
    }

    static func parse(_ data: Data, path: String = "/etc/mmgs/cluster.json") throws(ConfigurationError) -> ClusterFile {
        try ClusterFile.parse(data, path: path)
    }

    /// The error message of parsing `data`, or nil when it parses.
    static func parseError(_ data: Data, path: String = "/etc/mmgs/cluster.json") -> String? {
        do throws(ConfigurationError) {
            _ = try ClusterFile.parse(data, path: path)
            return nil
        } catch {
            return error.message
        }
    }

    static func parseError(json text: String, path: String = "/etc/mmgs/cluster.json") -> String? {
        parseError(Data(text.utf8), path: path)
    }

    /// A fresh directory under the system temporary directory; `body` runs with its path and the
    /// directory is removed afterwards.
    static func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("mmgs-shared-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        return try body(directory.path)
    }
}
