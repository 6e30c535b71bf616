import Logging
import NIOCore
import NIOPosix
import Synchronization

/// This node's outgoing side of eTunnel: one connection pool per peer endpoint, created on
/// first use and kept until `forget` or `close`.
public final class ETunnelClient: Sendable {
    public let configuration: ETunnelConfiguration
    private let methods: ETunnelMethods
    private let group: any EventLoopGroup
    private let logger: Logger
    private let peers = Mutex<[ETunnelEndpoint: ETunnelPeer]>([:])

    /// `methods` are served to peers that call back over connections this client opened.
    public init(configuration: ETunnelConfiguration, methods: ETunnelMethods = ETunnelMethods(),
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "mmgs.etunnel")) {
        self.configuration = configuration
        self.methods = methods
        self.group = group
        self.logger = logger
    }

    public func peer(_ endpoint: ETunnelEndpoint) -> ETunnelPeer {
        peers.withLock { peers in
            if let peer = peers[endpoint] { return peer }
            let peer = ETunnelPeer(endpoint: endpoint, configuration: configuration, methods: methods, group: group, logger: logger)
            peers[endpoint] = peer
            return peer
        }
    }

    /// Closes and drops the pool of a peer that left the cluster.
    public func forget(_ endpoint: ETunnelEndpoint) {
        let peer = peers.withLock { $0.removeValue(forKey: endpoint) }
        peer?.close()
    }

    public func close() {
        let all = peers.withLock { peers in
            defer { peers.removeAll() }
            return Array(peers.values)
        }
        for peer in all { peer.close() }
    }
}
