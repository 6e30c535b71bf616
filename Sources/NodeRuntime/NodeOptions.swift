import ArgumentParser
import MMGSShared

/// Command-line options every node executable takes. Each overrides the cluster file and the
/// matching `MMGS_*` environment variable.
public struct NodeOptions: ParsableArguments, Sendable {
    @Option(name: .long, help: "Cluster file (JSON). Env: MMGS_CONFIG.")
    public var config: String?
    @Option(name: .long, help: "This node's name in the cluster file. Env: MMGS_NAME.")
    public var name: String?
    @Option(name: .long, help: "Cluster secret (prefer the file or MMGS_SECRET: arguments are visible in ps).")
    public var secret: String?
    @Option(name: .long, help: "Topology managers' eTunnel endpoints, HOST:PORT,HOST:PORT. Env: MMGS_SEEDS.")
    public var seeds: String?
    @Option(name: .long, help: "eTunnel listen address HOST:PORT. Env: MMGS_ETUNNEL.")
    public var etunnel: String?
    @Option(name: .long, help: "HTTP listen address for /health and /metrics. Env: MMGS_HTTP.")
    public var http: String?
    @Option(name: .long, help: "Front-ends: device (XMPP) listen address. Env: MMGS_XMPP.")
    public var xmpp: String?
    @Option(name: .long, help: "Routers: journal directory (default data/NAME). Env: MMGS_DATA.")
    public var data: String?
    @Option(name: .long, help: "Front-ends: PEM certificate chain for STARTTLS. Env: MMGS_TLS_CERTIFICATE.")
    public var tlsCertificate: String?
    @Option(name: .long, help: "Front-ends: PEM private key for STARTTLS. Env: MMGS_TLS_KEY.")
    public var tlsKey: String?
    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical. Env: MMGS_LOG_LEVEL.")
    public var logLevel: String?
    @Option(name: .long, help: "Event-loop threads of this process (default: one per core). Env: MMGS_EVENT_LOOPS.")
    public var eventLoops: Int?

    public init() {}

    var overrides: ConfigurationOverrides {
        var values: [String: String] = [:]
        values["name"] = name
        values["secret"] = secret
        values["seeds"] = seeds
        values["etunnel"] = etunnel
        values["http"] = http
        values["xmpp"] = xmpp
        values["log_level"] = logLevel
        values["data"] = data
        values["tls_certificate"] = tlsCertificate
        values["tls_key"] = tlsKey
        values["event_loops"] = eventLoops.map(String.init)
        return ConfigurationOverrides(values: values)
    }

    /// Resolves the node's configuration; errors say what to fix.
    public func resolve(role: NodeRole, environment: [String: String]) throws -> NodeConfiguration {
        do throws(ConfigurationError) {
            var file: ClusterFile?
            if let path = config ?? environment["MMGS_CONFIG"] { file = try ClusterFile.load(path: path) }
            let overrides = ConfigurationOverrides.fromEnvironment(environment).merging(self.overrides)
            return try NodeConfiguration.resolve(role: role, file: file, overrides: overrides)
        } catch {
            throw ValidationError(error.message)
        }
    }
}
