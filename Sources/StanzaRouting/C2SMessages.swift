import ETunnel
import NIOCore

/// `credentials` answer: the stored SCRAM parameters of a device, and whether it may log in.
public struct CredentialsAnswer: ETunnelMessage, Equatable {
    public enum Status: UInt8, Sendable { case enabled = 1, disabled = 2, unknown = 3 }
    public var status: Status
    public var credentials: [ByteBuffer]

    public init(status: Status, credentials: [ByteBuffer]) {
        self.status = status
        self.credentials = credentials
    }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        let raw = try buffer.readPayloadInteger(UInt8.self, field: "credentials.status")
        guard let status = Status(rawValue: raw) else { throw ETunnelError(.badPayload, "credentials.status: \(raw)") }
        self.status = status
        let count = try buffer.readPayloadInteger(UInt8.self, field: "credentials.count")
        credentials = []
        for _ in 0..<count { credentials.append(try buffer.readLongBytes(field: "credentials.blob")) }
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        buffer.writeInteger(status.rawValue)
        try buffer.writeCount(credentials.count, as: UInt8.self, field: "credentials.count")
        for blob in credentials { try buffer.writeLongBytes(blob) }
    }
}

/// Where a session lives: the front-end node and its stream there.
public struct SessionAddress: Hashable, Sendable {
    public var frontend: String
    public var stream: UInt64
    public init(frontend: String, stream: UInt64) {
        self.frontend = frontend
        self.stream = stream
    }
}

extension ByteBuffer {
    mutating func writeSessionAddress(_ address: SessionAddress) throws(ETunnelError) {
        try writeShortString(address.frontend)
        writeInteger(address.stream)
    }

    mutating func readSessionAddress() throws(ETunnelError) -> SessionAddress {
        SessionAddress(frontend: try readShortString(field: "session.frontend"), stream: try readPayloadInteger(UInt64.self, field: "session.stream"))
    }
}

/// `session.open`: bind a resource for a stream (the router picks one when none is asked for,
/// and replaces an older session holding the same resource).
public struct SessionOpen: ETunnelMessage, Equatable {
    public var bareJID: String
    public var resource: String?
    public var address: SessionAddress

    public init(bareJID: String, resource: String?, address: SessionAddress) {
        self.bareJID = bareJID
        self.resource = resource
        self.address = address
    }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        bareJID = try buffer.readShortString(field: "sessionOpen.jid")
        resource = try buffer.readOptionalString(field: "sessionOpen.resource")
        address = try buffer.readSessionAddress()
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        try buffer.writeShortString(bareJID)
        try buffer.writeOptionalString(resource)
        try buffer.writeSessionAddress(address)
    }
}

/// `session.close`, and the answer to `session.open` (the bound resource).
public struct SessionRef: ETunnelMessage, Equatable {
    public var bareJID: String
    public var resource: String
    public var address: SessionAddress

    public init(bareJID: String, resource: String, address: SessionAddress) {
        self.bareJID = bareJID
        self.resource = resource
        self.address = address
    }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        bareJID = try buffer.readShortString(field: "session.jid")
        resource = try buffer.readShortString(field: "session.resource")
        address = try buffer.readSessionAddress()
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        try buffer.writeShortString(bareJID)
        try buffer.writeShortString(resource)
        try buffer.writeSessionAddress(address)
    }
}

/// The routing header a front-end parses, and the stanza's bytes (with `from` stamped). The
/// router routes on the header and never parses the bytes.
public struct RoutedStanza: ETunnelMessage, Equatable {
    public enum Kind: UInt8, Sendable { case message = 1, presence = 2, iq = 3 }
    public var kind: Kind
    public var type: String?
    public var to: String
    public var from: String
    public var id: String?
    /// The sender's session, for errors and replies (absent for server-generated stanzas).
    public var sender: SessionAddress?
    public var stanza: ByteBuffer
    /// A message that Message Carbons copy (XEP-0280 §6: chat, or normal with a body; no
    /// `<private/>`, no `<no-copy/>` hint, not itself a carbon). The front-end that parsed it
    /// decides; a trailing field, absent (false) from older peers.
    public var carbonEligible: Bool

    public init(kind: Kind, type: String?, to: String, from: String, id: String?, sender: SessionAddress?, stanza: ByteBuffer, carbonEligible: Bool = false) {
        self.carbonEligible = carbonEligible
        self.kind = kind
        self.type = type
        self.to = to
        self.from = from
        self.id = id
        self.sender = sender
        self.stanza = stanza
    }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        let raw = try buffer.readPayloadInteger(UInt8.self, field: "stanza.kind")
        guard let kind = Kind(rawValue: raw) else { throw ETunnelError(.badPayload, "stanza.kind: \(raw)") }
        self.kind = kind
        type = try buffer.readOptionalString(field: "stanza.type")
        to = try buffer.readShortString(field: "stanza.to")
        from = try buffer.readShortString(field: "stanza.from")
        id = try buffer.readOptionalString(field: "stanza.id")
        let hasSender = try buffer.readPayloadInteger(UInt8.self, field: "stanza.hasSender")
        sender = hasSender != 0 ? try buffer.readSessionAddress() : nil
        stanza = try buffer.readLongBytes(field: "stanza.bytes")
        carbonEligible = buffer.readableBytes > 0 ? try buffer.readPayloadInteger(UInt8.self, field: "stanza.flags") & 1 != 0 : false
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        buffer.writeInteger(kind.rawValue)
        try buffer.writeOptionalString(type)
        try buffer.writeShortString(to)
        try buffer.writeShortString(from)
        try buffer.writeOptionalString(id)
        if let sender {
            buffer.writeInteger(UInt8(1))
            try buffer.writeSessionAddress(sender)
        } else {
            buffer.writeInteger(UInt8(0))
        }
        try buffer.writeLongBytes(stanza)
        buffer.writeInteger(UInt8(carbonEligible ? 1 : 0))
    }
}

/// `presence`: a device's presence stanza, sent to the router that owns the device. The router
/// does the subscription bookkeeping and the broadcast.
public struct PresenceUpdate: ETunnelMessage, Equatable {
    public var session: SessionRef
    public var stanza: RoutedStanza
    /// For available presence: the priority (RFC 6121 §4.7.2.3), -128…127.
    public var priority: Int8

    public init(session: SessionRef, stanza: RoutedStanza, priority: Int8) {
        self.session = session
        self.stanza = stanza
        self.priority = priority
    }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        session = try SessionRef(from: &buffer)
        priority = try buffer.readPayloadInteger(Int8.self, field: "presence.priority")
        stanza = try RoutedStanza(from: &buffer)
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        try session.encode(into: &buffer)
        buffer.writeInteger(priority)
        try stanza.encode(into: &buffer)
    }
}

/// `deliver`: what a router asks a front-end to put on one stream. Answered with one byte:
/// 1 delivered (or queued for a resumable stream), 0 no such stream (the router then treats the
/// session as gone and keeps a message offline).
public struct Delivery: ETunnelMessage, Equatable {
    public enum Action: UInt8, Sendable {
        /// Write `payload` (stanza bytes) as is, adding a delay stamp if `delayMillis` ≠ 0.
        case stanza = 1
        /// Answer the sender with an error built from `payload` (the original stanza) and `condition`.
        case bounce = 2
        /// `payload` is an encoded `RosterItem`: send a roster push.
        case rosterPush = 3
        /// `payload` is one byte: 1 when another session of the account has Message Carbons
        /// enabled (the stream then asks for sent carbons of what it sends), 0 when none has.
        case carbonPeers = 4
    }

    public var stream: UInt64
    public var action: Action
    public var condition: String?
    public var delayMillis: UInt64
    public var payload: ByteBuffer

    public init(stream: UInt64, action: Action, condition: String? = nil, delayMillis: UInt64 = 0, payload: ByteBuffer) {
        self.stream = stream
        self.action = action
        self.condition = condition
        self.delayMillis = delayMillis
        self.payload = payload
    }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        stream = try buffer.readPayloadInteger(UInt64.self, field: "deliver.stream")
        let raw = try buffer.readPayloadInteger(UInt8.self, field: "deliver.action")
        guard let action = Action(rawValue: raw) else { throw ETunnelError(.badPayload, "deliver.action: \(raw)") }
        self.action = action
        condition = try buffer.readOptionalString(field: "deliver.condition")
        delayMillis = try buffer.readPayloadInteger(UInt64.self, field: "deliver.delay")
        payload = try buffer.readLongBytes(field: "deliver.payload")
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        buffer.writeInteger(stream)
        buffer.writeInteger(action.rawValue)
        try buffer.writeOptionalString(condition)
        buffer.writeInteger(delayMillis)
        try buffer.writeLongBytes(payload)
    }
}

/// `session.kill`: close a stream with a stream error (a replaced resource, a disabled device).
public struct SessionKill: ETunnelMessage, Equatable {
    public var stream: UInt64
    public var condition: String
    public var text: String

    public init(stream: UInt64, condition: String, text: String) {
        self.stream = stream
        self.condition = condition
        self.text = text
    }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        stream = try buffer.readPayloadInteger(UInt64.self, field: "kill.stream")
        condition = try buffer.readShortString(field: "kill.condition")
        text = try buffer.readShortString(field: "kill.text")
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        buffer.writeInteger(stream)
        try buffer.writeShortString(condition)
        try buffer.writeShortString(text)
    }
}

/// `probe`: the subscriber's router asks the contact's router to deliver the contact's current
/// available presences to one new session of the subscriber.
public struct PresenceProbe: ETunnelMessage, Equatable {
    public var contact: String
    public var subscriber: String
    public var address: SessionAddress

    public init(contact: String, subscriber: String, address: SessionAddress) {
        self.contact = contact
        self.subscriber = subscriber
        self.address = address
    }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        contact = try buffer.readShortString(field: "probe.contact")
        subscriber = try buffer.readShortString(field: "probe.subscriber")
        address = try buffer.readSessionAddress()
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        try buffer.writeShortString(contact)
        try buffer.writeShortString(subscriber)
        try buffer.writeSessionAddress(address)
    }
}

extension ETunnelPeer {
    /// Calls `deliver` on a front-end: `completion` gets whether the stream took it (false for
    /// "no such stream"), or the call's error. Routers and front-ends on a lease both send here.
    public func deliver(_ delivery: Delivery, timeout: Duration, completion: @escaping @Sendable (Result<Bool, ETunnelError>) -> Void) {
        let payload: ByteBuffer
        do { payload = try delivery.encoded() } catch { return completion(.failure(error)) }
        call(RoutingMethods.deliver, payload, timeout: timeout) { result in
            completion(result.map { answer in
                var answer = answer
                return answer.readInteger(as: UInt8.self) == 1
            })
        }
    }
}

/// `carbons.set` (front-end → the account's router): a session enables or disables Message
/// Carbons (XEP-0280 §4).
public struct CarbonsSet: ETunnelMessage, Equatable {
    public var session: SessionRef
    public var enabled: Bool

    public init(session: SessionRef, enabled: Bool) {
        self.session = session
        self.enabled = enabled
    }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        session = try SessionRef(from: &buffer)
        enabled = try buffer.readPayloadInteger(UInt8.self, field: "carbons.enabled") != 0
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        try session.encode(into: &buffer)
        buffer.writeInteger(UInt8(enabled ? 1 : 0))
    }
}

/// `carbons.sent` (front-end → the sender's router): a message a session sent, for sent
/// carbons to the account's other carbons-enabled sessions (XEP-0280 §7).
public struct CarbonsSent: ETunnelMessage, Equatable {
    public var session: SessionRef
    /// The message as routed (with `from` stamped).
    public var stanza: ByteBuffer

    public init(session: SessionRef, stanza: ByteBuffer) {
        self.session = session
        self.stanza = stanza
    }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        session = try SessionRef(from: &buffer)
        stanza = try buffer.readLongBytes(field: "carbons.stanza")
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        try session.encode(into: &buffer)
        try buffer.writeLongBytes(stanza)
    }
}
