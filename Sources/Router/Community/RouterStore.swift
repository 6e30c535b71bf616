import ETunnel
import Journal
import Logging
import NIOCore
import StanzaRouting

/// What the router keeps durably, as journal records. Each record is a self-contained change,
/// applied in sequence order at start (and, in a later milestone, by the successor replica).
enum RouterRecord: UInt8 {
    case devicePut = 1
    case deviceRemove = 2
    case rosterPut = 3
    case pendingAdd = 5
    case pendingRemove = 6
    case offlineAppend = 7
    case offlineClear = 8
}

/// A message kept for an offline device, with the time it arrived (for the XEP-0203 stamp).
struct OfflineItem: Sendable {
    var millis: UInt64
    var stanza: ByteBuffer
}

/// Two JIDs (owner, contact) for pending-subscription records.
struct JIDPair: ETunnelMessage {
    var owner: String
    var contact: String
    init(owner: String, contact: String) {
        self.owner = owner
        self.contact = contact
    }
    init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        owner = try buffer.readShortString(field: "pair.owner")
        contact = try buffer.readShortString(field: "pair.contact")
    }
    func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        try buffer.writeShortString(owner)
        try buffer.writeShortString(contact)
    }
}

struct OfflineRecord: ETunnelMessage {
    var owner: String
    var millis: UInt64
    var stanza: ByteBuffer
    init(owner: String, millis: UInt64, stanza: ByteBuffer) {
        self.owner = owner
        self.millis = millis
        self.stanza = stanza
    }
    init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        owner = try buffer.readShortString(field: "offline.owner")
        millis = try buffer.readPayloadInteger(UInt64.self, field: "offline.millis")
        let length = try buffer.readPayloadInteger(UInt32.self, field: "offline.length")
        guard let bytes = buffer.readSlice(length: Int(length)) else { throw ETunnelError(.badPayload, "offline.stanza truncated") }
        stanza = bytes
    }
    func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        try buffer.writeShortString(owner)
        buffer.writeInteger(millis)
        try buffer.writeCount(stanza.readableBytes, as: UInt32.self, field: "offline.stanza")
        var copy = stanza
        buffer.writeBuffer(&copy)
    }
}

/// The router's state as rebuilt from its journal.
struct RouterData: Sendable {
    /// The whole state as a snapshot: the records that would rebuild it, each as
    /// `kind u8 | u32 length | payload`. Recovery applies them like journal records.
    func snapshot() throws(ETunnelError) -> [UInt8] {
        var buffer = ByteBuffer()
        func add(_ kind: RouterRecord, _ message: some ETunnelMessage<ETunnelError>) throws(ETunnelError) {
            buffer.writeInteger(kind.rawValue)
            let lengthIndex = buffer.writerIndex
            buffer.writeInteger(UInt32(0))
            try message.encode(into: &buffer)
            buffer.setInteger(UInt32(truncatingIfNeeded: buffer.writerIndex - lengthIndex - 4), at: lengthIndex)  // a ByteBuffer holds < 4 GiB
        }
        for device in devices.values.sorted(by: { $0.bareJID < $1.bareJID }) { try add(.devicePut, device) }
        for owner in roster.rosters.keys.sorted() {
            for item in roster.items(of: owner) { try add(.rosterPut, RosterSet(owner: owner, item: item)) }
        }
        for (owner, contacts) in roster.pendingIn.sorted(by: { $0.key < $1.key }) {
            for contact in contacts.sorted() { try add(.pendingAdd, JIDPair(owner: owner, contact: contact)) }
        }
        for (owner, items) in offline.sorted(by: { $0.key < $1.key }) {
            for item in items { try add(.offlineAppend, OfflineRecord(owner: owner, millis: item.millis, stanza: item.stanza)) }
        }
        return Array(buffer.readableBytesView)
    }

    mutating func restore(snapshot bytes: [UInt8]) throws {
        var buffer = ByteBuffer(bytes: bytes)
        var index = 0
        while buffer.readableBytes > 0 {
            guard let kind = buffer.readInteger(as: UInt8.self), let length = buffer.readInteger(as: UInt32.self),
                  let payload = buffer.readBytes(length: Int(length)) else {
                throw ETunnelError(.badPayload, "snapshot entry \(index) is truncated")
            }
            try apply(JournalRecord(kind: kind, sequence: 0, payload: payload))
            index += 1
        }
    }

    var devices: [String: DeviceRecord] = [:]
    var roster = RosterBook()
    var offline: [String: [OfflineItem]] = [:]

    mutating func apply(_ record: JournalRecord) throws {
        let buffer = ByteBuffer(bytes: record.payload)
        switch RouterRecord(rawValue: record.kind) {
        case .devicePut:
            let device = try DeviceRecord.decode(buffer)
            devices[device.bareJID] = device
        case .deviceRemove:
            let jid = try JIDMessage.decode(buffer).jid
            devices[jid] = nil
            offline[jid] = nil
            roster.removeOwner(jid)
        case .rosterPut:
            let set = try RosterSet.decode(buffer)
            roster.restore(owner: set.owner, item: set.item)
        case .pendingAdd:
            let pair = try JIDPair.decode(buffer)
            roster.restorePending(owner: pair.owner, contact: pair.contact, pending: true)
        case .pendingRemove:
            let pair = try JIDPair.decode(buffer)
            roster.restorePending(owner: pair.owner, contact: pair.contact, pending: false)
        case .offlineAppend:
            let item = try OfflineRecord.decode(buffer)
            offline[item.owner, default: []].append(OfflineItem(millis: item.millis, stanza: item.stanza))
        case .offlineClear:
            offline[try JIDMessage.decode(buffer).jid] = nil
        case nil:
            throw ETunnelError(.badPayload, "journal record \(record.sequence) has unknown kind \(record.kind)")
        }
    }
}

/// The journal, opened at the node's data directory.
struct RouterStore: Sendable {
    let journal: Journal

    static func open(directory: String, logger: Logger) throws -> (RouterStore, RouterData) {
        let (journal, recovery) = try Journal.open(JournalConfiguration(directory: directory), logger: logger)
        var data = RouterData()
        if let snapshot = recovery.snapshot { try data.restore(snapshot: snapshot.state) }
        for record in recovery.records { try data.apply(record) }
        if let tail = recovery.truncatedTail {
            logger.warning("journal had a torn tail; truncated", metadata: ["file": "\(tail.file)", "offset": "\(tail.offset)", "bytes": "\(tail.bytes)"])
        }
        logger.info("journal recovered", metadata: [
            "snapshot": "\(recovery.snapshot.map { "\($0.sequence)" } ?? "none")",
            "records": "\(recovery.records.count)", "devices": "\(data.devices.count)", "directory": "\(directory)",
        ])
        return (RouterStore(journal: journal), data)
    }

    func append(_ kind: RouterRecord, _ message: some ETunnelMessage) async throws {
        let buffer = try message.encoded()
        _ = try await journal.append(kind: kind.rawValue, payload: Array(buffer.readableBytesView))
    }
}
