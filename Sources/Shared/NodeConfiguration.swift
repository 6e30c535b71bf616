import Foundation

/// Everything one node process needs, resolved from (lowest to highest precedence) the cluster
/// file, `MMGS_*` environment variables and command-line options.
public struct NodeConfiguration: Sendable, Equatable {
    public var name: String
    public var role: NodeRole
    public var clusterName: String
    public var domain: String
    public var secret: String
    /// eTunnel endpoints of the topology managers.
    public var seeds: [HostPort]
    public var etunnel: HostPort
    public var http: HostPort
    /// Front-ends only: where devices connect.
    public var xmpp: HostPort?
    public var logLevel: String
    /// Routers: the journal directory.
    public var dataDirectory: String
    /// Front-ends: offer SASL PLAIN on unencrypted device streams.
    public var allowPlainWithoutTLS: Bool
    /// Front-ends: PEM certificate chain and key for STARTTLS (none: STARTTLS is not offered).
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// Front-ends: refuse authentication before STARTTLS.
    public var requireTLS: Bool
    /// Front-ends: XEP-0198 resumption window in seconds (0: resumption off).
    public var resumeWindowSeconds: Int
    public var probeIntervalMillis: Int
    public var suspicionTimeoutMillis: Int
    /// Threads of the process's event-loop group; nil: one per core.
    public var eventLoops: Int? = nil
    /// Front-ends: deliver on routers' delivery leases.
    public var deliveryLeases = true
    /// Quotas, rates and back-off (the cluster file's `"limits"`).
    public var limits = ServiceLimits()

    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
}

/// Overrides from the environment or the command line, by setting name.
public struct ConfigurationOverrides: Sendable {
    public var values: [String: String] = [:]
    public init(values: [String: String] = [:]) { self.values = values }

    /// Settings that may be overridden, and their environment variable.
    public static let keys: [(key: String, env: String)] = [
        ("name", "MMGS_NAME"), ("secret", "MMGS_SECRET"), ("seeds", "MMGS_SEEDS"),
        ("etunnel", "MMGS_ETUNNEL"), ("http", "MMGS_HTTP"), ("xmpp", "MMGS_XMPP"),
        ("log_level", "MMGS_LOG_LEVEL"), ("domain", "MMGS_DOMAIN"), ("data", "MMGS_DATA"), ("allow_plain", "MMGS_ALLOW_PLAIN"),
        ("tls_certificate", "MMGS_TLS_CERTIFICATE"), ("tls_key", "MMGS_TLS_KEY"), ("event_loops", "MMGS_EVENT_LOOPS"),
    ]

    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> ConfigurationOverrides {
        var overrides = ConfigurationOverrides()
        for (key, env) in keys { if let value = environment[env], !value.isEmpty { overrides.values[key] = value } }
        return overrides
    }

    /// `other` wins where both set a value.
    public func merging(_ other: ConfigurationOverrides) -> ConfigurationOverrides {
        ConfigurationOverrides(values: values.merging(other.values) { _, new in new })
    }
}

extension NodeConfiguration {
    /// Resolves the configuration of the node `name` (or the only node of `role`) from a cluster
    /// file plus overrides. With no file, everything must come from overrides.
    public static func resolve(role: NodeRole, file: ClusterFile?, overrides: ConfigurationOverrides) throws(ConfigurationError) -> NodeConfiguration {
        let o = overrides.values
        let name: String
        let entry: ClusterFile.Node?
        if let wanted = o["name"] {
            name = wanted
            entry = file?.nodes.first { $0.name == wanted }
            if let file, entry == nil {
                let known = file.nodes.filter { $0.role == role }.map(\.name).joined(separator: ", ")
                throw ConfigurationError("node '\(wanted)' is not in the cluster file \(file.path); \(role.rawValue) nodes there: \(known.isEmpty ? "none" : known)")
            }
        } else if let file {
            let candidates = file.nodes.filter { $0.role == role }
            guard candidates.count == 1 else {
                throw ConfigurationError("the cluster file \(file.path) has \(candidates.count) \(role.rawValue) nodes; say which with --name (\(candidates.map(\.name).joined(separator: ", ")))")
            }
            entry = candidates[0]
            name = entry!.name
        } else {
            throw ConfigurationError("no node name: pass --config FILE (with --name when the file has several \(role.rawValue) nodes) or --name NAME with --etunnel, --http and --seeds")
        }
        if let entry, entry.role != role {
            throw ConfigurationError("node '\(name)' is a \(entry.role.rawValue) in \(file!.path), not a \(role.rawValue): start it with \(entry.role.executableName)")
        }
        guard let secret = o["secret"] ?? file?.secret, !secret.isEmpty else {
            throw ConfigurationError("no cluster secret: set \"secret\" in the cluster file, MMGS_SECRET, or --secret")
        }
        guard secret.utf8.count >= 16 else {
            throw ConfigurationError("the cluster secret is \(secret.utf8.count) bytes; use at least 16 (e.g. `openssl rand -hex 32`)")
        }
        let seeds: [HostPort]
        if let text = o["seeds"] {
            var parsed: [HostPort] = []
            for item in text.split(separator: ",") { parsed.append(try HostPort.parse(String(item), field: "seeds")) }
            seeds = parsed
        } else if let file {
            seeds = file.seeds
        } else {
            throw ConfigurationError("no seeds: list the topology managers' eTunnel endpoints with --seeds HOST:PORT,HOST:PORT")
        }
        guard !seeds.isEmpty else { throw ConfigurationError("seeds: at least one topology manager endpoint is needed") }
        func endpoint(_ key: String, _ fromFile: HostPort?) throws(ConfigurationError) -> HostPort? {
            if let text = o[key] { return try HostPort.parse(text, field: key) }
            return fromFile
        }
        guard let etunnel = try endpoint("etunnel", entry?.etunnel) else {
            throw ConfigurationError("node '\(name)': no eTunnel listen address (\"etunnel\": \"HOST:PORT\" or --etunnel)")
        }
        guard let http = try endpoint("http", entry?.http) else {
            throw ConfigurationError("node '\(name)': no HTTP listen address for /health and /metrics (\"http\": \"HOST:PORT\" or --http)")
        }
        let xmpp = try endpoint("xmpp", entry?.xmpp)
        if role == .frontend && xmpp == nil {
            throw ConfigurationError("front-end '\(name)': no device listen address (\"xmpp\": \"HOST:PORT\" or --xmpp)")
        }
        let logLevel = o["log_level"] ?? file?.logLevel ?? "info"
        guard ((o["tls_certificate"] ?? file?.tlsCertificate) == nil) == ((o["tls_key"] ?? file?.tlsKey) == nil) else {
            throw ConfigurationError("TLS needs both a certificate and a key (\"tls_certificate\" and \"tls_key\", or --tls-certificate and --tls-key)")
        }
        var eventLoops = entry?.eventLoops ?? file?.eventLoops
        if let text = o["event_loops"] {
            let range = ClusterFile.eventLoopRange
            guard let count = Int(text), range.contains(count) else {
                throw ConfigurationError("event loops '\(text)' must be an integer between \(range.lowerBound) and \(range.upperBound) (--event-loops or MMGS_EVENT_LOOPS)")
            }
            eventLoops = count
        }
        guard logLevels.contains(logLevel) else {
            throw ConfigurationError("log level '\(logLevel)' is not one of \(logLevels.joined(separator: ", "))")
        }
        return NodeConfiguration(
            name: name, role: role, clusterName: file?.cluster ?? "mmgs", domain: o["domain"] ?? file?.domain ?? "mmgs.local",
            secret: secret, seeds: seeds, etunnel: etunnel, http: http, xmpp: role == .frontend ? xmpp : nil,
            logLevel: logLevel, dataDirectory: o["data"] ?? entry?.data ?? "data/\(name)",
            allowPlainWithoutTLS: (o["allow_plain"].map { $0 == "true" || $0 == "1" }) ?? file?.allowPlainWithoutTLS ?? false,
            tlsCertificate: o["tls_certificate"] ?? file?.tlsCertificate, tlsKey: o["tls_key"] ?? file?.tlsKey,
            requireTLS: file?.requireTLS ?? false,
            resumeWindowSeconds: file?.resumeWindowSeconds ?? 300,
            probeIntervalMillis: file?.probeIntervalMillis ?? 200,
            suspicionTimeoutMillis: file?.suspicionTimeoutMillis ?? 800,
            eventLoops: eventLoops,
            deliveryLeases: file?.deliveryLeases ?? true,
            limits: file?.limits ?? ServiceLimits())
    }
}
