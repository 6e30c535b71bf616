import Foundation

/// A cluster file (JSON): the cluster's secret, its seed managers and its nodes. The same file
/// serves `make run` (every node on loopback) and production (one role per box; each box starts
/// its node by name). Unknown keys are errors, so a typo never silently falls back to a default.
///
///     {
///       "cluster": "local", "domain": "mmgs.local", "secret": "…", "log_level": "info",
///       "seeds": ["127.0.0.1:7101", "127.0.0.1:7102"],
///       "membership": {"probe_interval_ms": 200, "suspicion_timeout_ms": 800},
///       "nodes": [{"name": "frontend-1", "role": "frontend", "etunnel": "127.0.0.1:7201",
///                  "http": "127.0.0.1:8201", "xmpp": "127.0.0.1:5222"}, …]
///     }
public struct ClusterFile: Sendable, Equatable {
    public struct Node: Sendable, Equatable {
        public var name: String
        public var role: NodeRole
        public var etunnel: HostPort?
        public var http: HostPort?
        public var xmpp: HostPort?
        /// Routers: where the journal lives (relative paths are relative to the working directory).
        public var data: String?
        /// Event-loop threads of this node's process (overrides the cluster-wide setting).
        public var eventLoops: Int?
    }

    public var path: String
    public var cluster: String
    public var domain: String
    public var secret: String?
    public var logLevel: String?
    public var seeds: [HostPort]
    public var probeIntervalMillis: Int?
    public var suspicionTimeoutMillis: Int?
    /// Offer SASL PLAIN on unencrypted device streams (benchmarks, loopback tests).
    public var allowPlainWithoutTLS: Bool = false
    /// Front-ends' STARTTLS certificate chain and key (PEM files; relative to the working directory).
    public var tlsCertificate: String?
    public var tlsKey: String?
    public var requireTLS: Bool = false
    /// XEP-0198: how long a dropped resumable device stream waits (seconds).
    public var resumeWindowSeconds: Int?
    /// Event-loop threads per node process; nil: one per core.
    public var eventLoops: Int?
    /// Front-ends deliver on routers' delivery leases (docs/architecture.md); off: every message
    /// goes through its router.
    public var deliveryLeases: Bool = true
    /// `"limits"`: quotas, rates and back-off (see `ServiceLimits`).
    public var limits = ServiceLimits()
    public var nodes: [Node]

    /// Where `mmgs run` records the cluster file it runs, so `mmgsctl` finds the local cluster
    /// from any directory.
    public static var currentLocalClusterPointer: String {
        let base = ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"] ?? "/tmp"
        return "\(base)/mmgs-\(getuid())/current-cluster"
    }

    static let topKeys: Set<String> = ["cluster", "domain", "secret", "secret_file", "log_level", "seeds", "membership", "nodes", "allow_plain_without_tls",
                                        "tls_certificate", "tls_key", "require_tls", "resume_window_seconds", "event_loops",
                                        "delivery_leases", "limits"]
    static let nodeKeys: Set<String> = ["name", "role", "etunnel", "http", "xmpp", "data", "event_loops"]
    static let membershipKeys: Set<String> = ["probe_interval_ms", "suspicion_timeout_ms"]

    public static func load(path: String) throws(ConfigurationError) -> ClusterFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("cannot read the cluster file \(path): no such file or not readable")
        }
        return try parse(data, path: path)
    }

    public static func parse(_ data: Data, path: String) throws(ConfigurationError) -> ClusterFile {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw ConfigurationError("\(path) is not valid JSON: \((error as NSError).userInfo[NSDebugDescriptionErrorKey] ?? error)")
        }
        guard let top = object as? [String: Any] else { throw ConfigurationError("\(path): the top level must be a JSON object") }
        try checkKeys(top, allowed: topKeys, where: "the top level of \(path)")

        func string(_ dict: [String: Any], _ key: String, _ place: String) throws(ConfigurationError) -> String? {
            guard let value = dict[key] else { return nil }
            guard let text = value as? String else { throw ConfigurationError("\(place): \"\(key)\" must be a string") }
            return text
        }

        var secret = try string(top, "secret", path)
        if let secretFile = try string(top, "secret_file", path) {
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
            let resolved = URL(fileURLWithPath: secretFile, relativeTo: directory).standardizedFileURL.path
            guard let text = try? String(contentsOfFile: resolved, encoding: .utf8) else {
                throw ConfigurationError("\(path): cannot read secret_file \(resolved)")
            }
            secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let seedList = top["seeds"] as? [String] else {
            throw ConfigurationError("\(path): \"seeds\" must be a list of topology manager eTunnel endpoints, e.g. [\"127.0.0.1:7101\"]")
        }
        var seeds: [HostPort] = []
        for seed in seedList { seeds.append(try HostPort.parse(seed, field: "\(path): seeds")) }

        var probe: Int?
        var suspicion: Int?
        if let membership = top["membership"] {
            guard let dict = membership as? [String: Any] else { throw ConfigurationError("\(path): \"membership\" must be an object") }
            try checkKeys(dict, allowed: membershipKeys, where: "\"membership\" in \(path)")
            probe = dict["probe_interval_ms"] as? Int
            suspicion = dict["suspicion_timeout_ms"] as? Int
            for (key, value) in [("probe_interval_ms", probe), ("suspicion_timeout_ms", suspicion)] where dict[key] != nil {
                guard let value, (10...60_000).contains(value) else {
                    throw ConfigurationError("\(path): membership.\(key) must be an integer between 10 and 60000")
                }
            }
        }

        guard let nodeList = top["nodes"] as? [[String: Any]] else {
            throw ConfigurationError("\(path): \"nodes\" must be a list of node objects")
        }
        var nodes: [Node] = []
        var names: Set<String> = []
        for (index, dict) in nodeList.enumerated() {
            let place = "\(path): nodes[\(index)]"
            try checkKeys(dict, allowed: nodeKeys, where: place)
            guard let name = try string(dict, "name", place), !name.isEmpty else { throw ConfigurationError("\(place): \"name\" is required") }
            guard name.utf8.count <= 64, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else {
                throw ConfigurationError("\(place): name '\(name)' must be at most 64 letters, digits, '-', '_' or '.'")
            }
            guard names.insert(name).inserted else { throw ConfigurationError("\(place): node name '\(name)' appears twice") }
            guard let roleText = try string(dict, "role", place), let role = NodeRole(rawValue: roleText) else {
                throw ConfigurationError("\(place): \"role\" must be one of \(NodeRole.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            func endpoint(_ key: String) throws(ConfigurationError) -> HostPort? {
                guard let text = try string(dict, key, place) else { return nil }
                return try HostPort.parse(text, field: "\(place).\(key)")
            }
            nodes.append(Node(name: name, role: role, etunnel: try endpoint("etunnel"), http: try endpoint("http"), xmpp: try endpoint("xmpp"), data: try string(dict, "data", place),
                              eventLoops: try eventLoops(dict["event_loops"], place)))
        }
        let logLevel = try string(top, "log_level", path)
        func flag(_ key: String) throws(ConfigurationError) -> Bool {
            guard let value = top[key] else { return false }
            guard let flag = value as? Bool else { throw ConfigurationError("\(path): \"\(key)\" must be true or false") }
            return flag
        }
        let allowPlain = try flag("allow_plain_without_tls")
        let requireTLS = try flag("require_tls")
        let deliveryLeases = top["delivery_leases"] == nil ? true : try flag("delivery_leases")
        let certificate = try string(top, "tls_certificate", path)
        let key = try string(top, "tls_key", path)
        guard (certificate == nil) == (key == nil) else {
            throw ConfigurationError("\(path): give both \"tls_certificate\" and \"tls_key\", or neither")
        }
        var resumeWindow: Int?
        if let value = top["resume_window_seconds"] {
            guard let seconds = value as? Int, (0...86_400).contains(seconds) else {
                throw ConfigurationError("\(path): \"resume_window_seconds\" must be an integer between 0 and 86400")
            }
            resumeWindow = seconds
        }
        let loops = try eventLoops(top["event_loops"], path)
        let limits = try serviceLimits(top["limits"], path)
        if requireTLS && certificate == nil {
            throw ConfigurationError("\(path): \"require_tls\" needs \"tls_certificate\" and \"tls_key\"")
        }
        return ClusterFile(
            path: path, cluster: try string(top, "cluster", path) ?? "mmgs", domain: try string(top, "domain", path) ?? "mmgs.local",
            secret: secret, logLevel: logLevel, seeds: seeds, probeIntervalMillis: probe, suspicionTimeoutMillis: suspicion, allowPlainWithoutTLS: allowPlain, tlsCertificate: certificate, tlsKey: key, requireTLS: requireTLS,
            resumeWindowSeconds: resumeWindow, eventLoops: loops, deliveryLeases: deliveryLeases, limits: limits, nodes: nodes)
    }

    /// `"limits": {"max_resources_per_account": 32, …}`: every key optional, each an integer in
    /// its range.
    static func serviceLimits(_ value: Any?, _ path: String) throws(ConfigurationError) -> ServiceLimits {
        var limits = ServiceLimits()
        guard let value else { return limits }
        guard let dict = value as? [String: Any] else { throw ConfigurationError("\(path): \"limits\" must be an object") }
        try checkKeys(dict, allowed: Set(ServiceLimits.keys.map(\.key)), where: "\(path): limits")
        for (key, range, keyPath) in ServiceLimits.keys {
            guard let raw = dict[key] else { continue }
            let isBoolean = (raw as? NSNumber).map { String(cString: $0.objCType) == "c" } ?? (raw is Bool)
            guard !isBoolean, let number = raw as? Int, range.contains(number) else {
                throw ConfigurationError("\(path): limits.\(key) must be an integer between \(range.lowerBound) and \(range.upperBound)")
            }
            limits[keyPath: keyPath] = number
        }
        return limits
    }

    /// The event-loop thread counts a node accepts (from the file, the environment or the CLI).
    public static let eventLoopRange = 1...256

    /// `event_loops`: threads of a node's event-loop group (absent: one per core).
    static func eventLoops(_ value: Any?, _ place: String) throws(ConfigurationError) -> Int? {
        guard let value else { return nil }
        // JSON true/false arrive as NSNumbers too (objCType "c"); they are not counts.
        let isBoolean = (value as? NSNumber).map { String(cString: $0.objCType) == "c" } ?? (value is Bool)
        guard !isBoolean, let count = value as? Int, eventLoopRange.contains(count) else {
            throw ConfigurationError("\(place): \"event_loops\" must be an integer between \(eventLoopRange.lowerBound) and \(eventLoopRange.upperBound) (leave it out for one per core)")
        }
        return count
    }

    private static func checkKeys(_ dict: [String: Any], allowed: Set<String>, where place: String) throws(ConfigurationError) {
        let unknown = Set(dict.keys).subtracting(allowed)
        guard unknown.isEmpty else {
            throw ConfigurationError("unknown key\(unknown.count > 1 ? "s" : "") \(unknown.sorted().map { "\"\($0)\"" }.joined(separator: ", ")) in \(place); known keys: \(allowed.sorted().joined(separator: ", "))")
        }
    }
}
