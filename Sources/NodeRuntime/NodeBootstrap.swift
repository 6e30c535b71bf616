import ETunnel
import Foundation
import Logging
import MMGSShared
import Membership
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle

/// Starts one node process: logging and metrics, the eTunnel listener, membership, the health
/// and metrics endpoint, sd_notify, the role's own services; runs until SIGTERM or SIGINT, then
/// leaves the cluster and stops everything in reverse order.
public enum NodeBootstrap {
    public static func run(options: NodeOptions, module: some RoleModule) async throws {
        let configuration = try options.resolve(role: module.role, environment: ProcessInfo.processInfo.environment)
        // Before anything touches the shared event-loop group. Several nodes on one small box
        // (benchmarks, the local cluster) do better with fewer threads each than one per core.
        if let loops = configuration.eventLoops { NIOSingletons.groupLoopCountSuggestion = loops }
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "mmgs.\(module.role.rawValue)")
        logger[metadataKey: "node"] = "\(configuration.name)"
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        try await run(configuration: configuration, module: module, registry: registry, logger: logger)
    }

    public static func run(configuration: NodeConfiguration, module: some RoleModule, registry: PrometheusCollectorRegistry, logger: Logger) async throws {
        guard configuration.etunnel.port != 0 else {
            throw ConfigurationError("etunnel: port 0 cannot be advertised to other nodes; give \(configuration.name) a fixed port")
        }
        var endpoints = ["etunnel": configuration.etunnel.description, "http": configuration.http.description]
        endpoints.merge(module.endpoints(configuration: configuration)) { _, new in new }
        let myself = MemberInfo(
            name: configuration.name, role: module.role,
            generation: UInt64(Date().timeIntervalSince1970 * 1000), uid: UInt64.random(in: 1 ... .max),
            pid: ProcessInfo.processInfo.processIdentifier, endpoints: endpoints)

        let tunnel = ETunnelConfiguration(nodeName: configuration.name, clusterSecret: configuration.secret)
        let client = ETunnelClient(configuration: tunnel, logger: logger)
        var swim = SWIMSettings()
        swim.probeInterval = .milliseconds(configuration.probeIntervalMillis)
        swim.suspicionTimeout = .milliseconds(configuration.suspicionTimeoutMillis)
        let shell = MembershipShell(
            myself: myself, isManager: module.role == .topology,
            seeds: configuration.seeds.map { ETunnelEndpoint(host: $0.host, port: $0.port) },
            client: client, settings: swim, logger: logger)
        let context = NodeContext(configuration: configuration, myself: myself, shell: shell, client: client, logger: logger)

        var methods = ETunnelMethods()
        shell.register(into: &methods)
        try module.register(into: &methods, context: context)

        let server: ETunnelServer
        do {
            server = try await ETunnelServer.start(host: configuration.etunnel.host, port: configuration.etunnel.port, configuration: tunnel, methods: methods, logger: logger)
        } catch {
            throw ConfigurationError("cannot listen for eTunnel on \(configuration.etunnel): \(error)")
        }
        let status = NodeStatus(context: context, registry: registry)
        let http: HealthHTTPServer
        do {
            http = try await HealthHTTPServer.start(host: configuration.http.host, port: configuration.http.port, routes: [
                "/health": { status.health() },
                "/metrics": { status.metrics() },
            ])
        } catch {
            await server.close()
            throw ConfigurationError("cannot listen for HTTP on \(configuration.http): \(error)")
        }
        logger.info("node started", metadata: [
            "role": "\(module.role.rawValue)", "etunnel": "\(configuration.etunnel)", "http": "\(configuration.http)",
            "pid": "\(myself.pid)",
        ])

        let services: [any Service] = [
            ListenerService(close: { await http.close(); await server.close(); client.close() }),
            MembershipService(shell: shell),
            SystemdService(status: status, logger: logger),
        ] + module.services(context: context)
        let group = ServiceGroup(configuration: .init(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger))
        try await group.run()
        logger.info("node stopped")
    }
}

/// Keeps the listeners open until graceful shutdown, then closes them (it is first in the
/// service list, so it stops last).
struct ListenerService: Service {
    let close: @Sendable () async -> Void

    func run() async throws {
        try? await gracefulShutdown()
        await close()
    }
}

struct MembershipService: Service {
    let shell: MembershipShell

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await shell.run()
        }
    }
}

/// READY=1 once the node is in a view, then WATCHDOG=1 pings while it stays ready.
struct SystemdService: Service {
    let status: NodeStatus
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled && !status.isReady {
                try? await Task.sleep(for: .milliseconds(100))
            }
            guard !Task.isCancelled else { return }
            SystemdNotifier.notify("READY=1\nSTATUS=in view epoch \(status.epoch ?? 0)")
            logger.info("ready", metadata: ["epoch": "\(status.epoch ?? 0)"])
            guard let interval = SystemdNotifier.watchdogInterval else {
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                return
            }
            while !Task.isCancelled {
                if status.isReady { SystemdNotifier.notify("WATCHDOG=1") }
                try? await Task.sleep(for: interval / 2)
            }
        }
        SystemdNotifier.notify("STOPPING=1")
    }
}
