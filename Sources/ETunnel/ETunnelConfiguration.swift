import NIOCore

/// Settings shared by both ends of eTunnel connections.
public struct ETunnelConfiguration: Sendable {
    /// This node's name, sent in the handshake and used in error messages.
    public var nodeName: String
    /// The cluster secret; only holders of it complete a handshake.
    public var clusterSecret: [UInt8]
    /// The largest frame accepted or sent, header included.
    public var maxFrameSize: Int = 1 << 20
    /// How many request/one-way frames a peer may have unanswered on one connection.
    public var receiveWindow: UInt32 = 4096
    public var heartbeatInterval: TimeAmount = .milliseconds(500)
    /// No frame at all for this long (heartbeats included) and the peer is declared dead.
    public var deadPeerTimeout: TimeAmount = .seconds(2)
    public var handshakeTimeout: TimeAmount = .seconds(3)
    public var connectTimeout: TimeAmount = .seconds(2)
    /// Connections per peer; calls go to the one with the fewest outstanding calls.
    public var poolSize: Int = 2
    public var reconnectBackoff: Backoff = Backoff()
    public var defaultCallTimeout: Duration = .seconds(5)

    public init(nodeName: String, clusterSecret: [UInt8]) {
        precondition(!clusterSecret.isEmpty, "an empty cluster secret authenticates nobody")
        self.nodeName = nodeName
        self.clusterSecret = clusterSecret
    }

    public init(nodeName: String, clusterSecret: String) {
        self.init(nodeName: nodeName, clusterSecret: Array(clusterSecret.utf8))
    }
}
