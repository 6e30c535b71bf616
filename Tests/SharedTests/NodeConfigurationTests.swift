import Foundation
import Testing
@testable import MMGSShared
@testable import NodeRuntime

/// `NodeConfiguration.resolve` and `NodeOptions.resolve`: file < environment < command line,
/// picking the node, and errors that say what to pass.
@Suite("Node configuration")
struct NodeConfigurationTests {
    static func localFile() throws -> ClusterFile { try ClusterFile.load(path: Fixtures.localClusterPath) }

    /// One node per role (so the node can be chosen without --name).
    static func singleFile(_ change: (inout [String: Any]) -> Void = { _ in }) throws -> ClusterFile {
        try ClusterFile.parse(Fixtures.data(change), path: "/etc/mmgs/single.json")
    }

    static func resolveError(role: NodeRole, file: ClusterFile?, _ values: [String: String]) -> String? {
        do throws(ConfigurationError) {
            _ = try NodeConfiguration.resolve(role: role, file: file, overrides: ConfigurationOverrides(values: values))
            return nil
        } catch {
            return error.message
        }
    }

    static func options(_ arguments: [String]) throws -> NodeOptions { try NodeOptions.parse(arguments) }

    /// The message of `NodeOptions.resolve`'s error (an ArgumentParser ValidationError).
    static func optionsError(_ arguments: [String], role: NodeRole, environment: [String: String]) throws -> String? {
        let options = try options(arguments)
        do {
            _ = try options.resolve(role: role, environment: environment)
            return nil
        } catch {
            return "\(error)"
        }
    }

    // MARK: From the file

    @Test("a node of the local cluster file resolves with the file's settings")
    func fromLocalFile() throws {
        let config = try NodeConfiguration.resolve(role: .router, file: Self.localFile(), overrides: ConfigurationOverrides(values: ["name": "router-2"]))
        #expect(config.name == "router-2")
        #expect(config.role == .router)
        #expect(config.clusterName == "local")
        #expect(config.domain == "mmgs.local")
        #expect(config.secret == "local-cluster-secret-for-loopback-only")
        #expect(config.seeds == [HostPort(host: "127.0.0.1", port: 7101), HostPort(host: "127.0.0.1", port: 7102)])
        #expect(config.etunnel == HostPort(host: "127.0.0.1", port: 7302))
        #expect(config.http == HostPort(host: "127.0.0.1", port: 8302))
        #expect(config.xmpp == nil)
        #expect(config.logLevel == "info")
        #expect(config.probeIntervalMillis == 200)
        #expect(config.suspicionTimeoutMillis == 800)
    }

    @Test("a front-end gets its device address")
    func frontendXMPP() throws {
        let config = try NodeConfiguration.resolve(role: .frontend, file: Self.localFile(), overrides: ConfigurationOverrides(values: ["name": "frontend-2"]))
        #expect(config.xmpp == HostPort(host: "127.0.0.1", port: 5223))
    }

    @Test("the only node of the role is chosen without --name", arguments: NodeRole.allCases)
    func onlyNodeOfRole(role: NodeRole) throws {
        let config = try NodeConfiguration.resolve(role: role, file: Self.singleFile(), overrides: ConfigurationOverrides())
        #expect(config.name == "\(role.rawValue)-1")
        #expect(config.role == role)
        #expect(config.clusterName == "unit")
        #expect(config.probeIntervalMillis == 250)
        #expect(config.suspicionTimeoutMillis == 1000)
    }

    @Test("several nodes of the role and no --name: the message lists them and says --name")
    func severalNodesOfRole() throws {
        let message = try #require(Self.resolveError(role: .router, file: Self.localFile(), [:]))
        #expect(message.contains("has 2 router nodes"), "\(message)")
        #expect(message.contains("--name (router-1, router-2)"), "\(message)")
    }

    @Test("no node of the role and no --name: the message says so")
    func noNodeOfRole() throws {
        let file = try Self.singleFile { object in
            object["nodes"] = (object["nodes"] as! [[String: Any]]).filter { $0["role"] as? String != "transport" }
        }
        let message = try #require(Self.resolveError(role: .transport, file: file, [:]))
        #expect(message.contains("has 0 transport nodes"), "\(message)")
    }

    @Test("a --name that is not in the file: the message lists the role's nodes")
    func nameNotInFile() throws {
        let message = try #require(Self.resolveError(role: .router, file: Self.localFile(), ["name": "router-9"]))
        #expect(message.contains("node 'router-9' is not in the cluster file \(Fixtures.localClusterPath)"), "\(message)")
        #expect(message.contains("router nodes there: router-1, router-2"), "\(message)")
        #expect(!message.contains("frontend-1"), "only the role's nodes: \(message)")
    }

    @Test("a node of another role: the message names the right executable", arguments: [
        ("frontend-1", NodeRole.router, "mmgs-frontend"),
        ("topology-2", NodeRole.frontend, "mmgs-topology"),
        ("transport-1", NodeRole.topology, "mmgs-transport"),
        ("router-1", NodeRole.transport, "mmgs-router"),
    ])
    func roleMismatch(name: String, role: NodeRole, executable: String) throws {
        let message = try #require(Self.resolveError(role: role, file: Self.localFile(), ["name": name]))
        #expect(message.contains("node '\(name)' is a"), "\(message)")
        #expect(message.contains("not a \(role.rawValue)"), "\(message)")
        #expect(message.contains("start it with \(executable)"), "\(message)")
    }

    // MARK: Precedence

    @Test("file < environment < command line, setting by setting")
    func precedence() throws {
        let base = ["--config", Fixtures.localClusterPath]
        let environment = [
            "MMGS_NAME": "router-1", "MMGS_SECRET": "environment-secret-0123456789",
            "MMGS_SEEDS": "10.0.0.1:7101,10.0.0.2:7101", "MMGS_ETUNNEL": "10.0.0.5:7301",
            "MMGS_HTTP": "10.0.0.5:8301", "MMGS_LOG_LEVEL": "debug", "MMGS_DOMAIN": "env.example",
        ]

        // File only.
        let fileOnly = try Self.options(base + ["--name", "router-1"]).resolve(role: .router, environment: [:])
        #expect(fileOnly.secret == "local-cluster-secret-for-loopback-only")
        #expect(fileOnly.seeds.map(\.description) == ["127.0.0.1:7101", "127.0.0.1:7102"])
        #expect(fileOnly.etunnel.description == "127.0.0.1:7301")
        #expect(fileOnly.http.description == "127.0.0.1:8301")
        #expect(fileOnly.logLevel == "info")
        #expect(fileOnly.domain == "mmgs.local")

        // The environment overrides the file.
        let fromEnvironment = try Self.options(base).resolve(role: .router, environment: environment)
        #expect(fromEnvironment.name == "router-1")
        #expect(fromEnvironment.secret == "environment-secret-0123456789")
        #expect(fromEnvironment.seeds.map(\.description) == ["10.0.0.1:7101", "10.0.0.2:7101"])
        #expect(fromEnvironment.etunnel.description == "10.0.0.5:7301")
        #expect(fromEnvironment.http.description == "10.0.0.5:8301")
        #expect(fromEnvironment.logLevel == "debug")
        #expect(fromEnvironment.domain == "env.example")

        // The command line overrides both.
        let fromCommandLine = try Self.options(base + [
            "--name", "router-2", "--secret", "command-line-secret-0123456789", "--seeds", "[::1]:7101",
            "--etunnel", "0.0.0.0:7302", "--http", "0.0.0.0:8302", "--log-level", "warning",
        ]).resolve(role: .router, environment: environment)
        #expect(fromCommandLine.name == "router-2")
        #expect(fromCommandLine.secret == "command-line-secret-0123456789")
        #expect(fromCommandLine.seeds == [HostPort(host: "::1", port: 7101)])
        #expect(fromCommandLine.etunnel.description == "0.0.0.0:7302")
        #expect(fromCommandLine.http.description == "0.0.0.0:8302")
        #expect(fromCommandLine.logLevel == "warning")
        #expect(fromCommandLine.domain == "env.example", "no --domain option: the environment's stays")
    }

    @Test("resolve: file < fromEnvironment(dictionary) < command-line overrides")
    func precedenceWithOverrides() throws {
        let file = try Self.localFile()
        let environment = ConfigurationOverrides.fromEnvironment(["MMGS_LOG_LEVEL": "debug", "MMGS_HTTP": "10.0.0.1:9000", "MMGS_NAME": "router-1"])
        let commandLine = ConfigurationOverrides(values: ["log_level": "error", "name": "router-2"])
        let fileOnly = try NodeConfiguration.resolve(role: .router, file: file, overrides: ConfigurationOverrides(values: ["name": "router-1"]))
        let withEnvironment = try NodeConfiguration.resolve(role: .router, file: file, overrides: environment)
        let withBoth = try NodeConfiguration.resolve(role: .router, file: file, overrides: environment.merging(commandLine))
        #expect([fileOnly.logLevel, withEnvironment.logLevel, withBoth.logLevel] == ["info", "debug", "error"])
        #expect([fileOnly.http.description, withEnvironment.http.description, withBoth.http.description]
                == ["127.0.0.1:8301", "10.0.0.1:9000", "10.0.0.1:9000"])
        #expect([fileOnly.name, withEnvironment.name, withBoth.name] == ["router-1", "router-1", "router-2"])
        #expect(withBoth.etunnel.description == "127.0.0.1:7302", "the file entry of the command line's --name")
    }

    @Test("MMGS_CONFIG names the file; --config overrides it")
    func configFromEnvironment() throws {
        let fromEnvironment = try Self.options(["--name", "topology-1"]).resolve(role: .topology, environment: ["MMGS_CONFIG": Fixtures.localClusterPath])
        #expect(fromEnvironment.clusterName == "local")
        let message = try #require(try Self.optionsError(["--config", "/nonexistent/cluster.json", "--name", "topology-1"], role: .topology,
                                                         environment: ["MMGS_CONFIG": Fixtures.localClusterPath]))
        #expect(message.contains("cannot read the cluster file /nonexistent/cluster.json"), "\(message)")
    }

    @Test("fromEnvironment reads only MMGS_* settings and ignores empty values")
    func fromEnvironment() {
        let overrides = ConfigurationOverrides.fromEnvironment([
            "MMGS_NAME": "router-1", "MMGS_SECRET": "", "MMGS_XMPP": "0.0.0.0:5222", "MMGS_LOG_LEVEL": "debug",
            "MMGS_DOMAIN": "d.example", "MMGS_SEEDS": "a:1", "MMGS_ETUNNEL": "b:2", "MMGS_HTTP": "c:3",
            "HOME": "/root", "MMGS_CONFIG": "/etc/mmgs/cluster.json", "mmgs_name": "lower-case",
        ])
        #expect(overrides.values == [
            "name": "router-1", "xmpp": "0.0.0.0:5222", "log_level": "debug", "domain": "d.example",
            "seeds": "a:1", "etunnel": "b:2", "http": "c:3",
        ])
    }

    @Test("merging: the argument wins where both set a value")
    func merging() {
        let low = ConfigurationOverrides(values: ["name": "a", "secret": "s"])
        let high = ConfigurationOverrides(values: ["name": "b", "http": "h:1"])
        #expect(low.merging(high).values == ["name": "b", "secret": "s", "http": "h:1"])
    }

    @Test("command-line options become overrides under the same keys")
    func optionKeys() throws {
        let options = try Self.options([
            "--name", "n", "--secret", "s", "--seeds", "a:1", "--etunnel", "b:2", "--http", "c:3",
            "--xmpp", "d:4", "--log-level", "debug",
        ])
        #expect(options.overrides.values == [
            "name": "n", "secret": "s", "seeds": "a:1", "etunnel": "b:2", "http": "c:3", "xmpp": "d:4", "log_level": "debug",
        ])
        #expect(Set(options.overrides.values.keys).isSubset(of: Set(ConfigurationOverrides.keys.map(\.key))))
    }

    // MARK: Without a file

    @Test("no file and no flags: the message says what to pass")
    func nothingGiven() throws {
        let message = try #require(Self.resolveError(role: .router, file: nil, [:]))
        #expect(message.contains("no node name"), "\(message)")
        #expect(message.contains("--config FILE"), "\(message)")
        #expect(message.contains("--name NAME with --etunnel, --http and --seeds"), "\(message)")
        let fromOptions = try #require(try Self.optionsError([], role: .router, environment: [:]))
        #expect(fromOptions.contains("no node name: pass --config FILE"), "\(fromOptions)")
    }

    @Test("a node runs without a file given --name, --secret, --seeds, --etunnel and --http")
    func withoutFile() throws {
        let config = try Self.options([
            "--name", "router-7", "--secret", Fixtures.secret, "--seeds", "10.0.0.1:7101, 10.0.0.2:7101",
            "--etunnel", "10.0.0.7:7301", "--http", "10.0.0.7:8301",
        ]).resolve(role: .router, environment: [:])
        #expect(config.name == "router-7")
        #expect(config.clusterName == "mmgs")
        #expect(config.domain == "mmgs.local")
        #expect(config.seeds == [HostPort(host: "10.0.0.1", port: 7101), HostPort(host: "10.0.0.2", port: 7101)])
        #expect(config.logLevel == "info")
        #expect(config.probeIntervalMillis == 200)
        #expect(config.suspicionTimeoutMillis == 800)
    }

    @Test("without a file, each missing setting is named")
    func withoutFileMissing() throws {
        let all = ["name": "r", "secret": Fixtures.secret, "seeds": "10.0.0.1:7101", "etunnel": "10.0.0.7:7301", "http": "10.0.0.7:8301"]
        #expect(Self.resolveError(role: .router, file: nil, all) == nil)
        func without(_ key: String) -> String { Self.resolveError(role: .router, file: nil, all.filter { $0.key != key }) ?? "(no error)" }
        #expect(without("secret").contains("no cluster secret: set \"secret\" in the cluster file, MMGS_SECRET, or --secret"))
        #expect(without("seeds").contains("no seeds: list the topology managers' eTunnel endpoints with --seeds"))
        #expect(without("etunnel").contains("node 'r': no eTunnel listen address"))
        #expect(without("http").contains("node 'r': no HTTP listen address"))
    }

    @Test("bad seeds on the command line are named")
    func badSeedsOverride() throws {
        let message = try #require(Self.resolveError(role: .router, file: Self.localFile(), ["name": "router-1", "seeds": "10.0.0.1:7101,manager-2"]))
        #expect(message.contains("seeds: 'manager-2' is not HOST:PORT"), "\(message)")
        let empty = try #require(Self.resolveError(role: .router, file: Self.localFile(), ["name": "router-1", "seeds": ","]))
        #expect(empty.contains("at least one topology manager endpoint"), "\(empty)")
    }

    @Test("a bad endpoint on the command line names the option")
    func badEndpointOverride() throws {
        let message = try #require(Self.resolveError(role: .router, file: Self.localFile(), ["name": "router-1", "http": "0.0.0.0:99999"]))
        #expect(message.contains("http: '0.0.0.0:99999' has no valid port"), "\(message)")
    }

    // MARK: Validation

    @Test("a secret shorter than 16 bytes is rejected; 16 is enough")
    func shortSecret() throws {
        let message = try #require(Self.resolveError(role: .router, file: Self.localFile(), ["name": "router-1", "secret": "fifteen-bytes!!"]))
        #expect(message.contains("the cluster secret is 15 bytes; use at least 16"), "\(message)")
        let fromFile = try Self.singleFile { $0["secret"] = "short" }
        let fileMessage = try #require(Self.resolveError(role: .router, file: fromFile, [:]))
        #expect(fileMessage.contains("5 bytes"), "\(fileMessage)")
        let sixteen = try NodeConfiguration.resolve(role: .router, file: Self.localFile(), overrides: ConfigurationOverrides(values: ["name": "router-1", "secret": "sixteen-bytes-ok"]))
        #expect(sixteen.secret == "sixteen-bytes-ok")
    }

    @Test("no secret anywhere is rejected")
    func noSecret() throws {
        let file = try Self.singleFile { $0["secret"] = nil }
        let message = try #require(Self.resolveError(role: .router, file: file, [:]))
        #expect(message.contains("no cluster secret"), "\(message)")
    }

    @Test("a front-end without a device address is rejected; --xmpp fixes it")
    func frontendWithoutXMPP() throws {
        let file = try Self.singleFile { Fixtures.setNode(&$0, 1, "xmpp", nil) }
        let message = try #require(Self.resolveError(role: .frontend, file: file, [:]))
        #expect(message.contains("front-end 'frontend-1': no device listen address"), "\(message)")
        #expect(message.contains("--xmpp"), "\(message)")
        let fixed = try NodeConfiguration.resolve(role: .frontend, file: file, overrides: ConfigurationOverrides(values: ["xmpp": "0.0.0.0:5222"]))
        #expect(fixed.xmpp == HostPort(host: "0.0.0.0", port: 5222))
    }

    @Test("only a front-end keeps an xmpp address")
    func xmppOnlyForFrontends() throws {
        let config = try NodeConfiguration.resolve(role: .router, file: Self.singleFile(), overrides: ConfigurationOverrides(values: ["xmpp": "0.0.0.0:5222"]))
        #expect(config.xmpp == nil)
    }

    @Test("every documented log level is accepted", arguments: NodeConfiguration.logLevels)
    func logLevels(level: String) throws {
        let config = try NodeConfiguration.resolve(role: .router, file: Self.singleFile(), overrides: ConfigurationOverrides(values: ["log_level": level]))
        #expect(config.logLevel == level)
    }

    @Test("an unknown log level lists the valid ones", arguments: ["verbose", "INFO", "warn", ""])
    func badLogLevel(level: String) throws {
        let message = try #require(Self.resolveError(role: .router, file: Self.singleFile(), ["log_level": level]))
        #expect(message.contains("log level '\(level)' is not one of trace, debug, info, notice, warning, error, critical"), "\(message)")
    }

    @Test("a bad log level in the file is rejected at resolve time")
    func badLogLevelInFile() throws {
        let file = try Self.singleFile { $0["log_level"] = "loud" }
        let message = try #require(Self.resolveError(role: .router, file: file, [:]))
        #expect(message.contains("log level 'loud'"), "\(message)")
    }

    @Test("NodeOptions reports a configuration error as its message")
    func optionsErrorMessage() throws {
        let message = try #require(try Self.optionsError(["--config", Fixtures.localClusterPath, "--name", "router-1", "--log-level", "chatty"],
                                                         role: .router, environment: [:]))
        #expect(message.contains("log level 'chatty' is not one of"), "\(message)")
    }
}
