import ETunnel
import NIOCore

/// One roster entry (RFC 6121 §2.1.2), as routers store it and front-ends render it.
public struct RosterItem: ETunnelMessage, Equatable {
    public enum Subscription: String, Sendable, CaseIterable { case none, to, from, both, remove }
    public var jid: String
    public var name: String?
    public var subscription: Subscription
    /// An outbound subscription request is pending (`ask='subscribe'`).
    public var askSubscribe: Bool
    /// An inbound request is waiting for the owner's answer (not shown in the roster).
    public var pendingIn: Bool
    public var groups: [String]

    public init(jid: String, name: String? = nil, subscription: Subscription = .none, askSubscribe: Bool = false, pendingIn: Bool = false, groups: [String] = []) {
        self.jid = jid
        self.name = name
        self.subscription = subscription
        self.askSubscribe = askSubscribe
        self.pendingIn = pendingIn
        self.groups = groups
    }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        jid = try buffer.readShortString(field: "roster.jid")
        name = try buffer.readOptionalString(field: "roster.name")
        let raw = try buffer.readShortString(field: "roster.subscription")
        guard let subscription = Subscription(rawValue: raw) else { throw ETunnelError(.badPayload, "roster.subscription: \(raw)") }
        self.subscription = subscription
        let flags = try buffer.readPayloadInteger(UInt8.self, field: "roster.flags")
        askSubscribe = flags & 1 != 0
        pendingIn = flags & 2 != 0
        groups = try buffer.readStringList(field: "roster.groups")
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        try buffer.writeShortString(jid)
        try buffer.writeOptionalString(name)
        try buffer.writeShortString(subscription.rawValue)
        buffer.writeInteger(UInt8((askSubscribe ? 1 : 0) | (pendingIn ? 2 : 0)))
        try buffer.writeStringList(groups)
    }
}

public struct RosterItems: ETunnelMessage, Equatable {
    public var items: [RosterItem]
    public init(items: [RosterItem]) { self.items = items }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        let count = try buffer.readPayloadInteger(UInt32.self, field: "roster.count")
        items = []
        for _ in 0..<count { items.append(try RosterItem(from: &buffer)) }
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        try buffer.writeCount(items.count, as: UInt32.self, field: "roster.count")
        for item in items { try item.encode(into: &buffer) }
    }
}

/// `roster.set` from a device: add/update (subscription ignored) or remove (`subscription == .remove`).
public struct RosterSet: ETunnelMessage, Equatable {
    public var owner: String
    public var item: RosterItem

    public init(owner: String, item: RosterItem) {
        self.owner = owner
        self.item = item
    }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        owner = try buffer.readShortString(field: "rosterSet.owner")
        item = try RosterItem(from: &buffer)
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        try buffer.writeShortString(owner)
        try item.encode(into: &buffer)
    }
}
