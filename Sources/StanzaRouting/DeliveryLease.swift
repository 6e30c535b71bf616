import ETunnel
import NIOCore
import Synchronization

/// The answer to `route` when the router delivered a message on its fast path: where the
/// destination's streams were, as of the router's session-table version `version`. The
/// front-end that asked may deliver the next messages to the same address itself (see
/// `LeaseCache`) until the router revokes the lease or it expires. An empty answer grants nothing.
public struct DeliveryLease: ETunnelMessage, Equatable {
    public var version: UInt64
    public var targets: [SessionAddress]

    public init(version: UInt64, targets: [SessionAddress]) {
        self.version = version
        self.targets = targets
    }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        version = try buffer.readPayloadInteger(UInt64.self, field: "lease.version")
        let count = try buffer.readPayloadInteger(UInt16.self, field: "lease.count")
        guard count > 0 else { throw ETunnelError(.badPayload, "lease.count: a lease names at least one stream") }
        targets = []
        for _ in 0..<count { targets.append(try buffer.readSessionAddress()) }
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        buffer.writeInteger(version)
        try buffer.writeCount(targets.count, as: UInt16.self, field: "lease.count")
        for target in targets { try buffer.writeSessionAddress(target) }
    }
}

/// `lease.revoke` (router → front-end): the sessions of these bare JIDs changed at or before
/// `version` of `router`'s session table; leases on them granted before that are void.
public struct LeaseRevocation: ETunnelMessage, Equatable {
    public var router: String
    public var version: UInt64
    public var bareJIDs: [String]

    /// Bare JIDs per revocation frame: keeps a front-end's departure (every session it held)
    /// within eTunnel's frame size.
    public static let batch = 1000

    public init(router: String, version: UInt64, bareJIDs: [String]) {
        self.router = router
        self.version = version
        self.bareJIDs = bareJIDs
    }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        router = try buffer.readShortString(field: "revoke.router")
        version = try buffer.readPayloadInteger(UInt64.self, field: "revoke.version")
        bareJIDs = try buffer.readStringList(field: "revoke.jids")
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        try buffer.writeShortString(router)
        buffer.writeInteger(version)
        try buffer.writeStringList(bareJIDs)
    }
}

/// Counts the answers of deliveries made in parallel; the last one learns how they went.
public final class Fanout: Sendable {
    public struct Outcome: Sendable, Equatable {
        /// At least one stream took it: the message is delivered.
        public var any: Bool
        /// Every stream took it.
        public var all: Bool
    }

    private let state: Mutex<(remaining: Int, any: Bool, all: Bool)>

    public init(count: Int) { state = Mutex((count, false, true)) }

    /// nil until the last delivery has answered; then the outcome of them all.
    public func finished(delivered: Bool) -> Outcome? {
        state.withLock { s in
            s.remaining -= 1
            s.any = s.any || delivered
            s.all = s.all && delivered
            return s.remaining == 0 ? Outcome(any: s.any, all: s.all) : nil
        }
    }
}
