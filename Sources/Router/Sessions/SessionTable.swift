import NIOCore
import StanzaRouting

/// One bound resource of a device, as its router sees it.
public struct SessionEntry: Sendable, Equatable {
    public var resource: String
    public var address: SessionAddress
    /// Has sent available presence (and not unavailable since).
    public var available = false
    public var priority: Int8 = 0
    /// The last available presence, as the device sent it (from stamped), to answer probes.
    public var presence: ByteBuffer?
    /// Has enabled Message Carbons (XEP-0280).
    public var carbons = false

    public init(resource: String, address: SessionAddress) {
        self.resource = resource
        self.address = address
    }
}

/// Bare JID → resource → session: which front-end stream serves each resource, and the delivery
/// rules of RFC 6121 §8.5 over them. Pure: the router actor owns one and does the I/O.
public struct SessionTable: Sendable {
    public private(set) var users: [String: [String: SessionEntry]] = [:]
    private var random = SystemRandomNumberGenerator()
    /// Delivery leases granted on these sessions (`lease(to:holder:)`), revoked on every change.
    private(set) var leases = LeaseHolders()

    public init() {}

    public struct Opened: Sendable, Equatable {
        public var resource: String
        /// The older session of the same resource, which the caller must close with `conflict`.
        public var replaced: SessionEntry?
    }

    /// Binds `resource` (or a generated one) to `address`. A resource already bound is taken over
    /// by the new session (RFC 6120 §7.7.2.2, "override"): the old stream gets a conflict error.
    /// nil when the account already has `maxResources` other resources bound (the caller answers
    /// `resource-constraint`, RFC 6120 §7.6.2.1).
    public mutating func open(bare: String, resource: String?, address: SessionAddress, maxResources: Int = .max) -> Opened? {
        var sessions = users[bare] ?? [:]
        if sessions.count >= maxResources, resource.map({ sessions[$0] == nil }) ?? true { return nil }
        let chosen = resource ?? generateResource(avoiding: sessions)
        let replaced = sessions[chosen]
        sessions[chosen] = SessionEntry(resource: chosen, address: address)
        users[bare] = sessions
        leases.changed(bare)
        return Opened(resource: chosen, replaced: replaced?.address == address ? nil : replaced)
    }

    private mutating func generateResource(avoiding sessions: [String: SessionEntry]) -> String {
        while true {
            let candidate = "mmgs-" + String(UInt32.random(in: 0 ... .max, using: &random), radix: 16)
            if sessions[candidate] == nil { return candidate }
        }
    }

    /// Removes the session if it still belongs to `address` (a newer session of the same
    /// resource is left alone). Returns what was removed.
    @discardableResult
    public mutating func close(bare: String, resource: String, address: SessionAddress) -> SessionEntry? {
        guard let entry = users[bare]?[resource], entry.address == address else { return nil }
        users[bare]![resource] = nil
        if users[bare]!.isEmpty { users[bare] = nil }
        leases.changed(bare)
        return entry
    }

    /// Records available/unavailable presence; returns whether it was the session's initial presence.
    @discardableResult
    public mutating func setPresence(bare: String, resource: String, available: Bool, priority: Int8, stanza: ByteBuffer?) -> Bool {
        guard var entry = users[bare]?[resource] else { return false }
        let initial = available && !entry.available
        // Only availability and priority choose message targets; a new status text does not.
        let retargets = entry.available != available || entry.priority != priority
        entry.available = available
        entry.priority = priority
        entry.presence = available ? stanza : nil
        users[bare]![resource] = entry
        if retargets { leases.changed(bare) }
        return initial
    }

    public func session(bare: String, resource: String) -> SessionEntry? { users[bare]?[resource] }

    /// Enables or disables Message Carbons for a session still on `address`; true if it changed.
    /// A change voids leases: a message to the account must now reach the router, which makes
    /// the copies.
    public mutating func setCarbons(bare: String, resource: String, address: SessionAddress, enabled: Bool) -> Bool {
        guard var entry = users[bare]?[resource], entry.address == address, entry.carbons != enabled else { return false }
        entry.carbons = enabled
        users[bare]![resource] = entry
        leases.changed(bare)
        return true
    }

    /// Whether any session of `bare` has carbons on (cheap: no allocation).
    public func anyCarbons(_ bare: String) -> Bool { users[bare]?.values.contains { $0.carbons } ?? false }

    /// The carbons-enabled sessions of `bare` other than those at `excluding` (XEP-0280: each
    /// interested resource that did not get the message itself).
    public func carbonCopies(of bare: String, excluding: [SessionAddress]) -> [SessionEntry] {
        guard anyCarbons(bare) else { return [] }
        return sessions(of: bare).filter { $0.carbons && !excluding.contains($0.address) }
    }


    public func sessions(of bare: String) -> [SessionEntry] {
        (users[bare].map { Array($0.values) } ?? []).sorted { $0.resource < $1.resource }
    }

    public func availableSessions(of bare: String) -> [SessionEntry] {
        sessions(of: bare).filter(\.available)
    }

    /// RFC 6121 §8.5.2.1.1: a message to a bare JID goes to the available resources with the
    /// highest non-negative priority (all of them, if several tie); none → offline storage.
    public func messageTargets(of bare: String) -> [SessionEntry] {
        let candidates = availableSessions(of: bare).filter { $0.priority >= 0 }
        guard let top = candidates.map(\.priority).max() else { return [] }
        return candidates.filter { $0.priority == top }
    }

    /// The message fast path: the streams a message to `to` goes to (a full JID's session even
    /// when unavailable, else `messageTargets`), with the version they are valid at. A
    /// non-empty answer makes `holder` a lease holder on the bare JID until its next change.
    ///
    /// `copies` are the account's carbons-enabled sessions other than the targets (XEP-0280:
    /// they get a copy of an eligible message). No lease is granted while there are any, whatever
    /// this message is: a front-end on the lease would deliver later messages without the copies.
    public mutating func lease(to: String, holder: String?) -> (targets: [SessionEntry], version: UInt64, copies: [SessionEntry]) {
        let bare = JIDText.bare(to)
        let targets: [SessionEntry]
        if let resource = JIDText.resource(to) {
            targets = session(bare: bare, resource: resource).map { [$0] } ?? []
        } else {
            targets = messageTargets(of: bare)
        }
        let copies = targets.isEmpty || !anyCarbons(bare) ? [] : carbonCopies(of: bare, excluding: targets.map(\.address))
        if let holder, !targets.isEmpty, copies.isEmpty { leases.hold(bare, by: holder) }
        return (targets, leases.version, copies)
    }

    /// The front-ends to tell that their leases on some bare JIDs are void, and the version to
    /// tell them; empties the list.
    public mutating func takeRevocations() -> (byFrontend: [String: Set<String>], version: UInt64) {
        (leases.takeRevocations(), leases.version)
    }

    /// A revocation the front-end did not acknowledge goes out again with the next ones.
    public mutating func requeueRevocations(_ bareJIDs: [String], for frontend: String) {
        leases.requeue(bareJIDs, for: frontend)
    }

    /// Drops every session served by a front-end that left the cluster.
    public mutating func removeAll(frontend: String) -> [(bare: String, entry: SessionEntry)] {
        var removed: [(String, SessionEntry)] = []
        for (bare, sessions) in users {
            for (resource, entry) in sessions where entry.address.frontend == frontend {
                removed.append((bare, entry))
                users[bare]![resource] = nil
                leases.changed(bare)
            }
            if users[bare]?.isEmpty == true { users[bare] = nil }
        }
        leases.forget(frontend: frontend)
        return removed
    }

    public var count: Int { users.values.reduce(0) { $0 + $1.count } }
}
