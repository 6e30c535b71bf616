import NIOCore
import NIOPosix
import Synchronization

/// A TCP proxy in front of a server, so a test can cut one connection of several (as a network
/// failure would) while the others live on.
public final class TCPProxy: Sendable {
    private let channel: any Channel
    private let pairs: Pairs

    private final class Pairs: Sendable {
        let list = Mutex<[(inbound: any Channel, outbound: any Channel)]>([])
    }

    private init(channel: any Channel, pairs: Pairs) {
        self.channel = channel
        self.pairs = pairs
    }

    public var port: Int { channel.localAddress?.port ?? 0 }

    /// Proxied connections ever accepted (cut ones included).
    public var connectionCount: Int { pairs.list.withLock { $0.count } }

    public static func start(
        targetHost: String = "127.0.0.1", targetPort: Int,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> TCPProxy {
        let pairs = Pairs()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { inbound in
                // The accepted channel is not read from until this future completes.
                ClientBootstrap(group: inbound.eventLoop)
                    .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                    .connect(host: targetHost, port: targetPort)
                    .flatMap { outbound in
                        inbound.eventLoop.makeCompletedFuture {
                            try outbound.pipeline.syncOperations.addHandler(ForwardHandler(target: inbound))
                            try inbound.pipeline.syncOperations.addHandler(ForwardHandler(target: outbound))
                            pairs.list.withLock { $0.append((inbound, outbound)) }
                        }
                    }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return TCPProxy(channel: channel, pairs: pairs)
    }

    /// Cuts the `index`-th proxied connection (both sides), as a network failure would.
    public func cut(_ index: Int) async {
        guard let pair = pairs.list.withLock({ index < $0.count ? $0[index] : nil }) else { return }
        try? await pair.inbound.close()
        try? await pair.outbound.close()
    }

    public func close() async {
        try? await channel.close()
        for pair in pairs.list.withLock({ $0 }) {
            try? await pair.inbound.close()
            try? await pair.outbound.close()
        }
    }
}

private final class ForwardHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let target: any Channel

    init(target: any Channel) { self.target = target }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        target.writeAndFlush(Self.unwrapInboundIn(data), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        target.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
