import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Accepts eTunnel connections and serves `methods` on them.
public final class ETunnelServer: Sendable {
    public let localAddress: SocketAddress
    private let channel: any Channel
    private let tracker: ConnectionTracker

    private init(channel: any Channel, tracker: ConnectionTracker) {
        self.channel = channel
        self.localAddress = channel.localAddress!
        self.tracker = tracker
    }

    public var port: Int { localAddress.port ?? 0 }

    /// Binds and starts accepting. Port 0 picks a free port (see `port`).
    public static func start(
        host: String, port: Int, configuration: ETunnelConfiguration, methods: ETunnelMethods,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "mmgs.etunnel")
    ) async throws -> ETunnelServer {
        let tracker = ConnectionTracker()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.so_keepalive), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { child in
                guard tracker.accept(child) else {
                    return child.eventLoop.makeFailedFuture(ETunnelError(.shuttingDown, "\(configuration.nodeName) is shutting down"))
                }
                do {
                    let established = try child.pipeline.syncOperations.configureETunnelPipeline(
                        role: .server, configuration: configuration, methods: methods, logger: logger)
                    established.whenSuccess { core in tracker.established(core) }
                    child.closeFuture.whenComplete { _ in tracker.remove(child) }
                    return child.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return child.eventLoop.makeFailedFuture(error)
                }
            }
            .bind(host: host, port: port)
            .get()
        return ETunnelServer(channel: channel, tracker: tracker)
    }

    /// Stops accepting and closes every connection, established or mid-handshake; calls
    /// pending on the other side fail with `shutting-down`. Returns once every connection is
    /// closed: a frame that arrives later (a handshake's last step, say) finds no connection,
    /// rather than racing the close on the event loop.
    public func close() async {
        try? await channel.close()
        for closed in tracker.closeAll() { try? await closed.get() }
    }

    /// How many authenticated connections are open.
    public var connectionCount: Int { tracker.establishedCount }
}

/// Every accepted connection, so that closing the server reaches those still in the handshake.
private final class ConnectionTracker: Sendable {
    private struct State {
        var closed = false
        var channels: [ObjectIdentifier: any Channel] = [:]
        var cores: [ObjectIdentifier: ConnectionCore] = [:]
    }

    private let state = Mutex(State())

    var establishedCount: Int { state.withLock { $0.cores.count } }

    func accept(_ channel: any Channel) -> Bool {
        state.withLock { s in
            guard !s.closed else { return false }
            s.channels[ObjectIdentifier(channel)] = channel
            return true
        }
    }

    func established(_ core: ConnectionCore) {
        let accepted = state.withLock { s -> Bool in
            guard !s.closed, s.channels[ObjectIdentifier(core.channel)] != nil else { return false }
            s.cores[ObjectIdentifier(core.channel)] = core
            return true
        }
        if !accepted { core.close(ETunnelError(.shuttingDown, "\(core.localName) is shutting down")) }
    }

    func remove(_ channel: any Channel) {
        state.withLock { s in
            s.channels[ObjectIdentifier(channel)] = nil
            s.cores[ObjectIdentifier(channel)] = nil
        }
    }

    /// Closes every connection; the futures complete once each one is closed.
    func closeAll() -> [EventLoopFuture<Void>] {
        let (channels, cores) = state.withLock { s in
            s.closed = true
            defer { s.channels = [:]; s.cores = [:] }
            return (Array(s.channels.values), Array(s.cores.values))
        }
        for core in cores { core.shutdown(ETunnelError(.shuttingDown, "\(core.localName) is shutting down")) }
        return channels.map { $0.close() }
    }
}
