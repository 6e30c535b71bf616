import Foundation

/// Which front-ends hold a delivery lease on which bare JIDs, and the session-table version
/// the leases are stamped with. Every change to a bare JID's sessions bumps the version and
/// moves its holders to `revocations`, which the router sends as `lease.revoke`.
struct LeaseHolders: Sendable {
    /// Starts at the start time in microseconds, so that a restarted router's versions are
    /// above those of its previous run (front-ends compare them).
    private(set) var version = UInt64(Date().timeIntervalSince1970 * 1_000_000)
    private var holders: [String: Set<String>] = [:]
    /// Front-end → bare JIDs whose leases it must be told are void.
    private(set) var revocations: [String: Set<String>] = [:]

    mutating func changed(_ bare: String) {
        version &+= 1
        guard let frontends = holders.removeValue(forKey: bare) else { return }
        for frontend in frontends { revocations[frontend, default: []].insert(bare) }
    }

    mutating func hold(_ bare: String, by frontend: String) {
        holders[bare, default: []].insert(frontend)
    }

    /// A front-end that left holds nothing and needs no revocations.
    mutating func forget(frontend: String) {
        revocations[frontend] = nil
    }

    mutating func requeue(_ bareJIDs: [String], for frontend: String) {
        revocations[frontend, default: []].formUnion(bareJIDs)
    }

    mutating func takeRevocations() -> [String: Set<String>] {
        defer { revocations = [:] }
        return revocations
    }
}
