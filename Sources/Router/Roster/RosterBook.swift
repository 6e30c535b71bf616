import StanzaRouting

/// Rosters and the presence-subscription state machine of RFC 6121 §3 and Appendix A, without
/// I/O. "Outbound" is what the owner's own router does when the owner sends a subscription
/// stanza; "inbound" is what the other party's router does when that stanza arrives. Each call
/// returns what changed, so the caller can persist it, push it to the owner's sessions, and
/// decide whether to forward or deliver the stanza.
public struct RosterBook: Sendable {
    public private(set) var rosters: [String: [String: RosterItem]] = [:]
    /// Inbound subscription requests waiting for the owner's answer: owner → requesters.
    public private(set) var pendingIn: [String: Set<String>] = [:]

    public init() {}

    public struct Outcome: Sendable, Equatable {
        /// Items to persist and push to the owner's sessions (`.remove` subscription = removed).
        public var changed: [RosterItem] = []
        /// Whether the stanza goes on (forwarded to the contact, or delivered to the owner).
        public var forward = false
        /// Inbound subscribe from an already-approved contact: answer `subscribed` at once.
        public var autoApprove = false
        /// Whether the pending-in set changed (persist it).
        public var pendingChanged = false
    }

    public func items(of owner: String) -> [RosterItem] {
        (rosters[owner].map { Array($0.values) } ?? []).sorted { $0.jid < $1.jid }
    }

    public func item(of owner: String, contact: String) -> RosterItem? { rosters[owner]?[contact] }

    /// Items on the owner's roster (quotas count these).
    public func count(of owner: String) -> Int { rosters[owner]?.count ?? 0 }

    /// Inbound subscription requests waiting for the owner.
    public func pendingCount(of owner: String) -> Int { pendingIn[owner]?.count ?? 0 }

    /// Contacts whose presence the owner receives (subscription to/both).
    public func subscriptions(of owner: String) -> [String] {
        items(of: owner).filter { $0.subscription == .to || $0.subscription == .both }.map(\.jid)
    }

    /// Contacts who receive the owner's presence (subscription from/both).
    public func subscribers(of owner: String) -> [String] {
        items(of: owner).filter { $0.subscription == .from || $0.subscription == .both }.map(\.jid)
    }

    // MARK: Restoring (from the journal)

    public mutating func restore(owner: String, item: RosterItem) {
        if item.subscription == .remove {
            rosters[owner]?[item.jid] = nil
        } else {
            rosters[owner, default: [:]][item.jid] = item
        }
    }

    public mutating func restorePending(owner: String, contact: String, pending: Bool) {
        if pending { pendingIn[owner, default: []].insert(contact) } else { pendingIn[owner]?.remove(contact) }
    }

    /// Forgets an owner's roster and pending requests (its device was removed).
    public mutating func removeOwner(_ owner: String) {
        rosters[owner] = nil
        pendingIn[owner] = nil
    }

    /// Who asked to subscribe to the owner and waits for an answer.
    public func pendingRequests(of owner: String) -> [String] {
        (pendingIn[owner] ?? []).sorted()
    }

    // MARK: Roster management by the owner (RFC 6121 §2)

    /// A roster set: name and groups change; the subscription is never set by the client.
    public mutating func set(owner: String, item requested: RosterItem) -> Outcome {
        var outcome = Outcome()
        var item = rosters[owner]?[requested.jid] ?? RosterItem(jid: requested.jid)
        item.name = requested.name
        item.groups = requested.groups
        rosters[owner, default: [:]][item.jid] = item
        outcome.changed = [item]
        return outcome
    }

    /// A roster remove. Returns the removed item (with its old subscription, so the caller sends
    /// unsubscribe/unsubscribed as RFC 6121 §2.5.2 requires).
    public mutating func remove(owner: String, contact: String) -> (Outcome, RosterItem?) {
        var outcome = Outcome()
        guard let old = rosters[owner]?[contact] else { return (outcome, nil) }
        rosters[owner]![contact] = nil
        if pendingIn[owner]?.remove(contact) != nil { outcome.pendingChanged = true }
        outcome.changed = [RosterItem(jid: contact, subscription: .remove)]
        return (outcome, old)
    }

    // MARK: Outbound (the owner sent it)

    public mutating func outboundSubscribe(owner: String, contact: String) -> Outcome {
        var outcome = Outcome()
        outcome.forward = true
        var item = rosters[owner]?[contact] ?? RosterItem(jid: contact)
        guard item.subscription != .to && item.subscription != .both else { return outcome }
        if !item.askSubscribe || rosters[owner]?[contact] == nil {
            item.askSubscribe = true
            rosters[owner, default: [:]][contact] = item
            outcome.changed = [item]
        }
        return outcome
    }

    /// The owner approves `contact`'s request. Without a pending request it is ignored (no
    /// pre-approval support yet).
    public mutating func outboundSubscribed(owner: String, contact: String) -> Outcome {
        var outcome = Outcome()
        guard pendingIn[owner]?.remove(contact) != nil else { return outcome }
        outcome.pendingChanged = true
        outcome.forward = true
        var item = rosters[owner]?[contact] ?? RosterItem(jid: contact)
        item.subscription = item.subscription.addingFrom
        rosters[owner, default: [:]][contact] = item
        outcome.changed = [item]
        return outcome
    }

    public mutating func outboundUnsubscribe(owner: String, contact: String) -> Outcome {
        var outcome = Outcome()
        outcome.forward = true
        amend(owner: owner, contact: contact, &outcome, forwardIfChanged: false) { item in
            item.subscription = item.subscription.droppingTo
            item.askSubscribe = false
        }
        return outcome
    }

    public mutating func outboundUnsubscribed(owner: String, contact: String) -> Outcome {
        var outcome = Outcome()
        outcome.forward = true
        if pendingIn[owner]?.remove(contact) != nil { outcome.pendingChanged = true }
        amend(owner: owner, contact: contact, &outcome, forwardIfChanged: false) { item in
            item.subscription = item.subscription.droppingFrom
        }
        return outcome
    }

    // MARK: Inbound (the other party sent it to the owner)

    public mutating func inboundSubscribe(owner: String, from contact: String) -> Outcome {
        var outcome = Outcome()
        if let item = rosters[owner]?[contact], item.subscription == .from || item.subscription == .both {
            outcome.autoApprove = true
            return outcome
        }
        if pendingIn[owner, default: []].insert(contact).inserted { outcome.pendingChanged = true }
        outcome.forward = true
        return outcome
    }

    public mutating func inboundSubscribed(owner: String, from contact: String) -> Outcome {
        var outcome = Outcome()
        guard var item = rosters[owner]?[contact], item.askSubscribe else { return outcome }
        item.askSubscribe = false
        item.subscription = item.subscription.addingTo
        rosters[owner]![contact] = item
        outcome.changed = [item]
        outcome.forward = true
        return outcome
    }

    public mutating func inboundUnsubscribe(owner: String, from contact: String) -> Outcome {
        var outcome = Outcome()
        if pendingIn[owner]?.remove(contact) != nil { outcome.pendingChanged = true }
        amend(owner: owner, contact: contact, &outcome, forwardIfChanged: true) { item in
            item.subscription = item.subscription.droppingFrom
        }
        return outcome
    }

    public mutating func inboundUnsubscribed(owner: String, from contact: String) -> Outcome {
        var outcome = Outcome()
        amend(owner: owner, contact: contact, &outcome, forwardIfChanged: true) { item in
            item.subscription = item.subscription.droppingTo
            item.askSubscribe = false
        }
        return outcome
    }

    /// Applies `change` to an existing item; records it (and, if asked, forwards the stanza)
    /// only when something actually changed.
    private mutating func amend(owner: String, contact: String, _ outcome: inout Outcome, forwardIfChanged: Bool,
                                _ change: (inout RosterItem) -> Void) {
        guard var item = rosters[owner]?[contact] else { return }
        let before = item
        change(&item)
        guard item != before else { return }
        rosters[owner]![contact] = item
        outcome.changed = [item]
        if forwardIfChanged { outcome.forward = true }
    }
}

/// The subscription directions (RFC 6121 §2.1.2.5): `to` (the owner receives the contact's
/// presence) and `from` (the contact receives the owner's), each added or dropped.
extension RosterItem.Subscription {
    var addingTo: Self {
        switch self {
        case .none: .to
        case .from: .both
        default: self
        }
    }

    var addingFrom: Self {
        switch self {
        case .none: .from
        case .to: .both
        default: self
        }
    }

    var droppingTo: Self {
        switch self {
        case .to: .none
        case .both: .from
        default: self
        }
    }

    var droppingFrom: Self {
        switch self {
        case .from: .none
        case .both: .to
        default: self
        }
    }
}
