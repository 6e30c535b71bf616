import ETunnel
import Logging
import MMGSShared
import NIOCore
import NIOPosix
import NodeRuntime
import ServiceLifecycle
import StanzaRouting
import XMPPCore

/// The device listener of a front-end, and what routers may ask of its streams.
final class C2SServer: Sendable {
    let configuration: C2SConfiguration
    let registry = C2SRegistry()
    let context: NodeContext
    let path: MessagePath
    /// Failed-login back-off, shared by every stream of this front-end.
    let throttle: AuthThrottle

    init(configuration: C2SConfiguration, context: NodeContext) {
        self.configuration = configuration
        self.throttle = AuthThrottle(FailureBackoff(configuration.serviceLimits))
        self.context = context
        self.path = MessagePath(routers: RouterClient(context: context), registry: registry, name: context.name,
                                useLeases: context.configuration.deliveryLeases)
    }

    func register(into methods: inout ETunnelMethods) {
        methods.register(RoutingMethods.deliver) { call in
            var answer = call.allocator.buffer(capacity: 1)
            do {
                let delivery = try Delivery.decode(call.payload)
                answer.writeInteger(UInt8(self.deliver(delivery) ? 1 : 0))
            } catch {
                call.fail(error as? ETunnelError ?? ETunnelError(.badPayload, "\(error)"))
                return
            }
            call.respond(answer)
        }
        methods.register(RoutingMethods.leaseRevoke) { call in
            do {
                self.path.revoke(try LeaseRevocation.decode(call.payload))
                call.respond(ByteBuffer())
            } catch {
                call.fail(error as? ETunnelError ?? ETunnelError(.badPayload, "\(error)"))
            }
        }
        methods.register(RoutingMethods.sessionKill) { call in
            if let kill = try? SessionKill.decode(call.payload), let handle = self.registry.handle(kill.stream) {
                let condition = StreamErrorCondition(rawValue: kill.condition) ?? .undefinedCondition
                handle.kill(StreamError(condition, text: kill.text))
            }
            call.respond(ByteBuffer())
        }
    }

    /// Puts a router's delivery on a stream; false if the stream is gone (or full, see
    /// `C2SStreamHandle.maxUnacked`).
    func deliver(_ delivery: Delivery) -> Bool {
        guard let handle = registry.handle(delivery.stream) else { return false }
        let delivered = write(delivery, to: handle)
        if !delivered, handle.takeOverflow() {
            let reaper = C2SReaper(routers: path.routers, registry: registry, domain: configuration.domain, logger: context.logger)
            Task { await reaper.finish(handle) }
        }
        return delivered
    }

    private func write(_ delivery: Delivery, to handle: C2SStreamHandle) -> Bool {
        switch delivery.action {
        case .stanza:
            if delivery.delayMillis == 0 {
                return handle.writeStanza(delivery.payload)
            } else if var element = StanzaRendering.parseStanza(delivery.payload) {
                element.children.append(.element(StanzaRendering.delay(millis: delivery.delayMillis, domain: configuration.domain)))
                var buffer = ByteBuffer()
                element.write(into: &buffer, parentNamespace: XMLNamespace.jabberClient)
                return handle.writeStanza(buffer)
            } else {
                return handle.writeStanza(delivery.payload)
            }
        case .bounce:
            guard let original = StanzaRendering.parseStanza(delivery.payload) else { return true }
            let condition = delivery.condition.flatMap(StanzaErrorCondition.init(rawValue:)) ?? .serviceUnavailable
            handle.writeStanza(StanzaError(condition).reply(to: original, by: nil))
        case .carbonPeers:
            var payload = delivery.payload
            handle.carbonPeers = payload.readInteger(as: UInt8.self) == 1
        case .rosterPush:
            guard let item = try? RosterItem.decode(delivery.payload) else { return true }
            let to = handle.session.map { "\($0.bareJID)/\($0.resource)" } ?? ""
            handle.writeStanza(StanzaRendering.rosterPush(item, to: to))
        }
        return true
    }

    func start(host: String, port: Int) async throws -> any Channel {
        let routers = path.routers
        let path = self.path
        let configuration = self.configuration
        let registry = self.registry
        let frontend = context.name
        let logger = context.logger
        let sweepers = C2SIdleSweepers(idleAfter: configuration.idleRelease)
        let throttle = self.throttle
        return try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            // Devices send small stanzas; each idle connection keeps its last read buffer, so
            // start small (NIO's default is 2 KiB) and let busy streams grow theirs, to 8 KiB:
            // a read is parsed whole before any of it is handled, and a 64 KiB read of small
            // stanzas (about 400) held the loop long enough to put a flood's neighbours' p99 at
            // 36 ms instead of 17 (test_abuse_flood.py, receiver on the same front-end).
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 8 * 1024))
            // One read per readable event (NIO's default is 4): a busy device takes turns with
            // the others on its loop, 64 KiB at a time.
            .childChannelOption(.maxMessagesPerRead, value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        C2SHandler(configuration: configuration, routers: routers, path: path, registry: registry, frontend: frontend, logger: logger,
                               sweeper: sweepers.sweeper(for: channel.eventLoop), throttle: throttle))
                }
            }
            .bind(host: host, port: port)
            .get()
    }
}

/// Listens for devices until graceful shutdown; then stops accepting and closes the streams
/// with `system-shutdown`.
struct C2SService: Service {
    let server: C2SServer
    let listen: HostPort

    func run() async throws {
        let channel: any Channel
        do {
            channel = try await server.start(host: listen.host, port: listen.port)
        } catch {
            throw ConfigurationError("cannot listen for devices on \(listen): \(error)")
        }
        server.context.logger.info("accepting devices", metadata: ["xmpp": "\(listen)", "domain": "\(server.configuration.domain)"])
        try? await gracefulShutdown()
        try? await channel.close()
    }
}
