import Foundation
import Testing
@testable import MMGSShared

/// `ClusterFile.parse`: the repository's cluster files, and an error for every kind of mistake
/// whose message names the problem (and the place) so the operator knows what to fix.
@Suite("Cluster file")
struct ClusterFileTests {
    // MARK: The files in the repository

    @Test("deploy/local/cluster.json parses: 8 nodes, 2 seeds, membership timing")
    func localClusterFile() throws {
        let file = try ClusterFile.load(path: Fixtures.localClusterPath)
        #expect(file.nodes.count == 8)
        #expect(file.seeds == [HostPort(host: "127.0.0.1", port: 7101), HostPort(host: "127.0.0.1", port: 7102)])
        #expect(file.cluster == "local")
        #expect(file.domain == "mmgs.local")
        #expect(file.logLevel == "info")
        #expect((file.secret?.utf8.count ?? 0) >= 16)
        #expect(file.probeIntervalMillis == 200)
        #expect(file.suspicionTimeoutMillis == 800)
        #expect(file.path == Fixtures.localClusterPath)
        for role in NodeRole.allCases {
            #expect(file.nodes.filter { $0.role == role }.count == 2, "two \(role) nodes")
        }
        // Every node has its eTunnel and HTTP endpoints; only front-ends have a device port.
        for node in file.nodes {
            #expect(node.etunnel != nil, "\(node.name) etunnel")
            #expect(node.http != nil, "\(node.name) http")
            #expect((node.xmpp != nil) == (node.role == .frontend), "\(node.name) xmpp")
        }
        let frontend = try #require(file.nodes.first { $0.name == "frontend-1" })
        #expect(frontend.xmpp == HostPort(host: "127.0.0.1", port: 5222))
        // Seeds are the topology managers' eTunnel endpoints.
        let managers = file.nodes.filter { $0.role == .topology }.compactMap(\.etunnel)
        #expect(Set(managers) == Set(file.seeds))
    }

    @Test("deploy/production/cluster.example.json parses with its secret_file beside it")
    func productionExample() throws {
        let text = try #require(FileManager.default.contents(atPath: Fixtures.productionExamplePath))
        try Fixtures.withTemporaryDirectory { directory in
            let path = directory + "/cluster.json"
            try text.write(to: URL(fileURLWithPath: path))
            try "0123456789abcdef0123456789abcdef\n".write(toFile: directory + "/cluster.secret", atomically: true, encoding: .utf8)
            let file = try ClusterFile.load(path: path)
            #expect(file.secret == "0123456789abcdef0123456789abcdef")
            #expect(file.nodes.count == 9)
            #expect(file.seeds.count == 2)
            #expect(file.seeds.first == HostPort(host: "topology-1.mmgs.internal", port: 7100))
            #expect(file.probeIntervalMillis == 300)
            #expect(file.suspicionTimeoutMillis == 1500)
            #expect(file.logLevel == "notice")
        }
    }

    @Test("a minimal file gets the documented defaults")
    func defaults() throws {
        let file = try Fixtures.parse(Fixtures.data(["seeds": ["127.0.0.1:7101"], "nodes": []] as [String: Any]))
        #expect(file.cluster == "mmgs")
        #expect(file.domain == "mmgs.local")
        #expect(file.secret == nil)
        #expect(file.logLevel == nil)
        #expect(file.probeIntervalMillis == nil)
        #expect(file.suspicionTimeoutMillis == nil)
        #expect(file.nodes.isEmpty)
    }

    @Test("load of a missing file names the path")
    func missingFile() {
        #expect {
            _ = try ClusterFile.load(path: "/nonexistent/mmgs/cluster.json")
        } throws: { error in
            "\(error)".contains("cannot read the cluster file /nonexistent/mmgs/cluster.json")
        }
    }

    // MARK: Errors of the whole file

    @Test("invalid JSON: the message says so and names the file")
    func invalidJSON() throws {
        let message = try #require(Fixtures.parseError(json: #"{"cluster": "x", "seeds": [}"#, path: "/etc/mmgs/broken.json"))
        #expect(message.contains("/etc/mmgs/broken.json is not valid JSON"), "\(message)")
    }

    @Test("the top level must be an object")
    func topLevelNotObject() throws {
        let message = try #require(Fixtures.parseError(json: #"["127.0.0.1:7101"]"#))
        #expect(message.contains("the top level must be a JSON object"), "\(message)")
    }

    @Test("an unknown top-level key is named, with the known keys")
    func unknownTopLevelKey() throws {
        let message = try #require(Fixtures.parseError(Fixtures.data { $0["sedes"] = ["127.0.0.1:7101"] }))
        #expect(message.contains(#"unknown key "sedes""#), "\(message)")
        #expect(message.contains("top level"), "\(message)")
        #expect(message.contains("seeds"), "lists the known keys: \(message)")
    }

    @Test("several unknown keys are all named")
    func severalUnknownKeys() throws {
        let message = try #require(Fixtures.parseError(Fixtures.data { $0["colour"] = "blue"; $0["size"] = 3 }))
        #expect(message.contains(#"unknown keys "colour", "size""#), "\(message)")
    }

    @Test("a non-string value of a string key is refused")
    func secretNotString() throws {
        let message = try #require(Fixtures.parseError(Fixtures.data { $0["secret"] = 12345 }))
        #expect(message.contains(#""secret" must be a string"#), "\(message)")
    }

    // MARK: Seeds

    @Test("seeds must be a list", arguments: [
        #"{"seeds": "127.0.0.1:7101", "nodes": []}"#,
        #"{"seeds": [7101], "nodes": []}"#,
        #"{"nodes": []}"#,
    ])
    func seedsNotAList(json: String) throws {
        let message = try #require(Fixtures.parseError(json: json))
        #expect(message.contains(#""seeds" must be a list"#), "\(message)")
    }

    @Test("a bad seed names the seeds field and the bad value")
    func badSeed() throws {
        let message = try #require(Fixtures.parseError(Fixtures.data { $0["seeds"] = ["127.0.0.1:7101", "manager-2"] }))
        #expect(message.contains("seeds"), "\(message)")
        #expect(message.contains("'manager-2' is not HOST:PORT"), "\(message)")
    }

    // MARK: Membership

    @Test("membership values outside 10...60000 are refused", arguments: [
        ("probe_interval_ms", 9), ("probe_interval_ms", 60_001), ("probe_interval_ms", 0),
        ("suspicion_timeout_ms", -1), ("suspicion_timeout_ms", 1_000_000),
    ])
    func membershipOutOfRange(key: String, value: Int) throws {
        let message = try #require(Fixtures.parseError(Fixtures.data { $0["membership"] = [key: value] }))
        #expect(message.contains("membership.\(key) must be an integer between 10 and 60000"), "\(message)")
    }

    @Test("membership values at the bounds are accepted")
    func membershipBounds() throws {
        let low = try Fixtures.parse(Fixtures.data { $0["membership"] = ["probe_interval_ms": 10, "suspicion_timeout_ms": 10] })
        #expect(low.probeIntervalMillis == 10 && low.suspicionTimeoutMillis == 10)
        let high = try Fixtures.parse(Fixtures.data { $0["membership"] = ["probe_interval_ms": 60_000, "suspicion_timeout_ms": 60_000] })
        #expect(high.probeIntervalMillis == 60_000 && high.suspicionTimeoutMillis == 60_000)
    }

    @Test("delivery_leases: on unless the file says false; anything but a boolean is refused")
    func deliveryLeases() throws {
        #expect(try Fixtures.parse(Fixtures.data { _ in }).deliveryLeases)
        #expect(try Fixtures.parse(Fixtures.data { $0["delivery_leases"] = true }).deliveryLeases)
        #expect(try !Fixtures.parse(Fixtures.data { $0["delivery_leases"] = false }).deliveryLeases)
        let message = try #require(Fixtures.parseError(Fixtures.data { $0["delivery_leases"] = "no" }))
        #expect(message.contains(#""delivery_leases" must be true or false"#), "\(message)")
    }

    @Test("a membership value that is not an integer is refused")
    func membershipNotInteger() throws {
        let message = try #require(Fixtures.parseError(Fixtures.data { $0["membership"] = ["suspicion_timeout_ms": "800"] }))
        #expect(message.contains("membership.suspicion_timeout_ms must be an integer"), "\(message)")
    }

    @Test("membership must be an object and its keys are checked")
    func membershipShape() throws {
        let notObject = try #require(Fixtures.parseError(Fixtures.data { $0["membership"] = [200] }))
        #expect(notObject.contains(#""membership" must be an object"#), "\(notObject)")
        let unknown = try #require(Fixtures.parseError(Fixtures.data { $0["membership"] = ["probe_interval": 200] }))
        #expect(unknown.contains(#"unknown key "probe_interval""#), "\(unknown)")
        #expect(unknown.contains("membership"), "\(unknown)")
    }

    // MARK: Nodes

    @Test("nodes must be a list of objects")
    func nodesNotAList() throws {
        let message = try #require(Fixtures.parseError(Fixtures.data { $0["nodes"] = ["router-1"] }))
        #expect(message.contains(#""nodes" must be a list of node objects"#), "\(message)")
    }

    @Test("an unknown node key is named with the node's index")
    func unknownNodeKey() throws {
        let message = try #require(Fixtures.parseError(Fixtures.data { Fixtures.setNode(&$0, 2, "etunel", "127.0.0.1:7301") }))
        #expect(message.contains(#"unknown key "etunel""#), "\(message)")
        #expect(message.contains("nodes[2]"), "\(message)")
    }

    @Test("a duplicate node name is refused and named")
    func duplicateNodeName() throws {
        let message = try #require(Fixtures.parseError(Fixtures.data { Fixtures.setNode(&$0, 3, "name", "router-1") }))
        #expect(message.contains("node name 'router-1' appears twice"), "\(message)")
        #expect(message.contains("nodes[3]"), "\(message)")
    }

    @Test("a node needs a name made of safe characters")
    func nodeName() throws {
        let missing = try #require(Fixtures.parseError(Fixtures.data { Fixtures.setNode(&$0, 0, "name", nil) }))
        #expect(missing.contains(#"nodes[0]: "name" is required"#), "\(missing)")
        let empty = try #require(Fixtures.parseError(Fixtures.data { Fixtures.setNode(&$0, 0, "name", "") }))
        #expect(empty.contains(#""name" is required"#), "\(empty)")
        let spaced = try #require(Fixtures.parseError(Fixtures.data { Fixtures.setNode(&$0, 1, "name", "front end") }))
        #expect(spaced.contains("name 'front end' must be at most 64"), "\(spaced)")
        let long = try #require(Fixtures.parseError(Fixtures.data { Fixtures.setNode(&$0, 1, "name", String(repeating: "a", count: 65)) }))
        #expect(long.contains("must be at most 64"), "\(long)")
        let sixtyFour = try Fixtures.parse(Fixtures.data { Fixtures.setNode(&$0, 1, "name", String(repeating: "a", count: 64)) })
        #expect(sixtyFour.nodes[1].name.count == 64)
    }

    @Test("a bad or missing role lists the valid roles", arguments: ["gateway", "Router", ""])
    func badRole(role: String) throws {
        let message = try #require(Fixtures.parseError(Fixtures.data { Fixtures.setNode(&$0, 2, "role", role) }))
        #expect(message.contains(#"nodes[2]: "role" must be one of topology, frontend, router, transport"#), "\(message)")
    }

    @Test("a missing role is refused")
    func missingRole() throws {
        let message = try #require(Fixtures.parseError(Fixtures.data { Fixtures.setNode(&$0, 2, "role", nil) }))
        #expect(message.contains(#""role" must be one of"#), "\(message)")
    }

    @Test("a bad HOST:PORT names the node field and the problem", arguments: [
        ("etunnel", "127.0.0.1", "is not HOST:PORT"),
        ("etunnel", "127.0.0.1:70000", "has no valid port (0-65535)"),
        ("http", ":8301", "has no host"),
        ("http", "127.0.0.1:", "has no valid port"),
        ("xmpp", "127.0.0.1:port", "has no valid port"),
    ])
    func badEndpoint(key: String, value: String, problem: String) throws {
        let message = try #require(Fixtures.parseError(Fixtures.data { Fixtures.setNode(&$0, 2, key, value) }))
        #expect(message.contains("nodes[2].\(key)"), "\(message)")
        #expect(message.contains("'\(value)' \(problem)"), "\(message)")
    }

    @Test("an endpoint that is not a string is refused")
    func endpointNotString() throws {
        let message = try #require(Fixtures.parseError(Fixtures.data { Fixtures.setNode(&$0, 0, "etunnel", 7101) }))
        #expect(message.contains(#"nodes[0]: "etunnel" must be a string"#), "\(message)")
    }

    // MARK: secret_file

    @Test("secret_file is resolved relative to the cluster file and trimmed")
    func secretFileRelative() throws {
        try Fixtures.withTemporaryDirectory { directory in
            try FileManager.default.createDirectory(atPath: directory + "/secrets", withIntermediateDirectories: true)
            try "  relative-secret-0123456789\n\n".write(toFile: directory + "/secrets/cluster.secret", atomically: true, encoding: .utf8)
            let data = Fixtures.data { $0["secret"] = nil; $0["secret_file"] = "secrets/cluster.secret" }
            let file = try Fixtures.parse(data, path: directory + "/cluster.json")
            #expect(file.secret == "relative-secret-0123456789")
        }
    }

    @Test("an absolute secret_file is used as is, and wins over secret")
    func secretFileAbsolute() throws {
        try Fixtures.withTemporaryDirectory { directory in
            try "absolute-secret-0123456789".write(toFile: directory + "/s", atomically: true, encoding: .utf8)
            let data = Fixtures.data { $0["secret_file"] = directory + "/s" }
            let file = try Fixtures.parse(data, path: "/elsewhere/cluster.json")
            #expect(file.secret == "absolute-secret-0123456789")
        }
    }

    @Test("an unreadable secret_file names the resolved path")
    func secretFileMissing() throws {
        let data = Fixtures.data { $0["secret_file"] = "missing.secret" }
        let message = try #require(Fixtures.parseError(data, path: "/etc/mmgs/cluster.json"))
        #expect(message.contains("cannot read secret_file /etc/mmgs/missing.secret"), "\(message)")
    }

    /// BUG: `--config cluster.json` (a path with no directory part) resolves a relative
    /// secret_file against "/" instead of the current directory: `deletingLastPathComponent`
    /// of "cluster.json" is "", and "" + "/" + "cluster.secret" is "/cluster.secret".
    @Test("a relative secret_file next to a directory-less cluster path stays relative")
    func secretFileNextToBareFileName() throws {
        let data = Fixtures.data { $0["secret_file"] = "mmgs-no-such-secret" }
        let message = try #require(Fixtures.parseError(data, path: "cluster.json"))
        #expect(!message.contains("secret_file /mmgs-no-such-secret"), "resolved against the root directory: \(message)")
    }
}
