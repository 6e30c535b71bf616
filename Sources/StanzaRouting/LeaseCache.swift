import NIOCore

/// A front-end's delivery leases: for a destination address, the streams its owning router
/// last delivered a message to, so the next message to it can go there directly (one eTunnel
/// hop to the receiver's front-end, or none when it is this one) instead of through the router.
///
/// A lease is only a hint that is cheap to check: a stream that is gone answers "no such
/// stream" and the message goes to the router after all, so a stale lease can never lose a
/// message. What the versions protect is RFC 6121's choice among the receiver's resources: a
/// revocation and a grant travel on different connections and may arrive in either order, so
/// each keeps the session-table version it was made at and the older never overwrites the newer.
/// Pure: the caller holds the lock and passes the time.
public struct LeaseCache: Sendable {
    struct Entry: Sendable {
        var router: String
        var version: UInt64
        var expires: NIODeadline
        /// Destination address as the device wrote it (bare or full) → streams; nil after a
        /// revocation (kept until it expires, so that an older grant arriving late is refused).
        var routes: [String: [SessionAddress]]?
    }

    private var entries: [String: Entry] = [:]
    private let lifetime: TimeAmount
    private var pruneAt = 1024

    /// `lifetime` bounds how long a lease whose revocation went astray can misdirect (routers
    /// resend unacknowledged revocations, so that takes a front-end cut off from its router).
    public init(lifetime: TimeAmount = .seconds(60)) {
        self.lifetime = lifetime
    }

    /// The streams to deliver a message for `to` to, if a live lease from `router` (the
    /// current owner of `bare`) covers it.
    public func targets(for to: String, bare: String, router: String, now: NIODeadline) -> [SessionAddress]? {
        guard let entry = entries[bare], entry.router == router, entry.expires > now else { return nil }
        return entry.routes?[to]
    }

    /// Records what the router answered for a message to `to`.
    public mutating func grant(_ lease: DeliveryLease, to: String, bare: String, router: String, now: NIODeadline) {
        let expires = now + lifetime
        if var entry = entries[bare], entry.router == router, entry.expires > now {
            // A revocation or grant made later than this one wins; one made at the same version
            // (a revocation is sent with the version after its change) is as fresh as this.
            guard lease.version >= entry.version else { return }
            if lease.version == entry.version, entry.routes != nil {
                entry.routes![to] = lease.targets
                entries[bare] = entry
                return
            }
        }
        // Older routes of this bare JID may predate a revocation still on its way: drop them.
        entries[bare] = Entry(router: router, version: lease.version, expires: expires, routes: [to: lease.targets])
        pruneIfLarge(now: now)
    }

    /// The router changed the sessions of `bareJIDs`; leases it granted before `version` are void.
    public mutating func revoke(_ bareJIDs: [String], router: String, version: UInt64, now: NIODeadline) {
        for bare in bareJIDs {
            if let entry = entries[bare], entry.router == router, entry.expires > now, entry.version >= version { continue }
            entries[bare] = Entry(router: router, version: version, expires: now + lifetime, routes: nil)
        }
        pruneIfLarge(now: now)
    }

    /// A delivery on a lease failed: forget every lease on `bare` (the router answers next).
    public mutating func drop(_ bare: String) {
        entries[bare] = nil
    }

    public var count: Int { entries.count }

    private mutating func pruneIfLarge(now: NIODeadline) {
        guard entries.count >= pruneAt else { return }
        entries = entries.filter { $0.value.expires > now }
        pruneAt = max(1024, entries.count * 2)
    }
}
