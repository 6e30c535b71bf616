import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Accepts eTunnel connections and serves `methods` on them.
public final class ETunnelServer: Sendable {
    public let localAddress: SocketAddress
    private let channel: any Channel
    private let connections: Mutex<[ObjectIdentifier: ConnectionCore]>

    private init(channel: any Channel) {
        self.channel = channel
        self.localAddress = channel.localAddress!
        self.connections = Mutex([:])
    }

    public var port: Int { localAddress.port ?? 0 }

    /// Binds and starts accepting. Port 0 picks a free port (see `port`).
    public static func start(
        host: String, port: Int, configuration: ETunnelConfiguration, methods: ETunnelMethods,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "mmgs.etunnel")
    ) async throws -> ETunnelServer {
        let holder = ServerRegistry()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.so_keepalive), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { child in
                do {
                    let established = try child.pipeline.syncOperations.configureETunnelPipeline(
                        role: .server, configuration: configuration, methods: methods, logger: logger)
                    established.whenSuccess { core in holder.add(core) }
                    child.closeFuture.whenComplete { _ in holder.remove(child) }
                    return child.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return child.eventLoop.makeFailedFuture(error)
                }
            }
            .bind(host: host, port: port)
            .get()
        let server = ETunnelServer(channel: channel)
        holder.server = server
        return server
    }

    /// Stops accepting and closes every connection (pending calls on the other side fail).
    public func close() async {
        try? await channel.close()
        let cores = connections.withLock { registry in
            let cores = Array(registry.values)
            registry.removeAll()
            return cores
        }
        for core in cores { core.close(ETunnelError(.shuttingDown, "\(core.localName) is shutting down")) }
    }

    /// How many authenticated connections are open.
    public var connectionCount: Int { connections.withLock { $0.count } }

    fileprivate func add(_ core: ConnectionCore) {
        connections.withLock { $0[ObjectIdentifier(core.channel)] = core }
    }

    fileprivate func remove(_ channel: any Channel) {
        _ = connections.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }
}

/// Lets child channels accepted before `start` returns find the server.
private final class ServerRegistry: Sendable {
    private let box = Mutex<(server: ETunnelServer?, early: [ConnectionCore])>((nil, []))

    var server: ETunnelServer? {
        get { box.withLock { $0.server } }
        set {
            let early = box.withLock { state in
                state.server = newValue
                defer { state.early = [] }
                return state.early
            }
            for core in early { newValue?.add(core) }
        }
    }

    func add(_ core: ConnectionCore) {
        let server = box.withLock { state -> ETunnelServer? in
            if state.server == nil { state.early.append(core) }
            return state.server
        }
        server?.add(core)
    }

    func remove(_ channel: any Channel) {
        let server = box.withLock { state -> ETunnelServer? in
            state.early.removeAll { $0.channel === channel }
            return state.server
        }
        server?.remove(channel)
    }
}
