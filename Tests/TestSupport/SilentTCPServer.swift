import NIOCore
import NIOPosix
import Synchronization

/// A TCP listener that accepts connections and never sends a byte: a peer that hangs in the
/// handshake. `close()` closes the listener and every accepted connection.
public final class SilentTCPServer: Sendable {
    private let channel: any Channel
    private let accepted: Accepted

    private final class Accepted: Sendable {
        let channels = Mutex<[any Channel]>([])
    }

    private init(channel: any Channel, accepted: Accepted) {
        self.channel = channel
        self.accepted = accepted
    }

    public var port: Int { channel.localAddress?.port ?? 0 }
    public var acceptedCount: Int { accepted.channels.withLock { $0.count } }

    public static func start(host: String = "127.0.0.1", group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> SilentTCPServer {
        let accepted = Accepted()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                accepted.channels.withLock { $0.append(child) }
                return child.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: host, port: 0)
            .get()
        return SilentTCPServer(channel: channel, accepted: accepted)
    }

    public func close() async {
        try? await channel.close()
        for child in accepted.channels.withLock({ $0 }) { try? await child.close() }
    }
}
