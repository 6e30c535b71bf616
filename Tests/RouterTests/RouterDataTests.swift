import ETunnel
import Journal
import NIOCore
import StanzaRouting
import Testing
@testable import MMGSRouter

/// Builds the journal records the router appends (`RouterStore.append`), numbered in order.
private struct Records {
    private(set) var all: [JournalRecord] = []

    mutating func add(_ kind: RouterRecord, _ message: some ETunnelMessage) throws {
        add(raw: kind.rawValue, Array(try message.encoded().readableBytesView))
    }

    mutating func add(raw kind: UInt8, _ payload: [UInt8]) {
        all.append(JournalRecord(kind: kind, sequence: UInt64(all.count + 1), payload: payload))
    }
}

private func replay(_ records: Records) throws -> RouterData {
    var data = RouterData()
    for record in records.all { try data.apply(record) }
    return data
}

private func device(_ jid: String, enabled: Bool = true, created: UInt64 = 1_700_000_000_000) -> DeviceRecord {
    DeviceRecord(bareJID: jid, imei: "356938035643809", imsi: nil, operatorName: "Opérateur", profile: "m2m",
                 enabled: enabled, createdMillis: created, credentials: [ByteBuffer(bytes: [1, 2, 3])])
}

private let a = "a@example.com"
private let b = "b@example.com"

@Suite struct RouterDataTests {
    @Test func recordKindsAreStable() {
        // The journal outlives the code: these numbers are a file format.
        #expect(RouterRecord.devicePut.rawValue == 1)
        #expect(RouterRecord.deviceRemove.rawValue == 2)
        #expect(RouterRecord.rosterPut.rawValue == 3)
        #expect(RouterRecord.pendingAdd.rawValue == 5)
        #expect(RouterRecord.pendingRemove.rawValue == 6)
        #expect(RouterRecord.offlineAppend.rawValue == 7)
        #expect(RouterRecord.offlineClear.rawValue == 8)
    }

    @Test func emptyJournal() throws {
        let data = try replay(Records())
        #expect(data.devices.isEmpty)
        #expect(data.roster.rosters.isEmpty)
        #expect(data.roster.pendingIn.isEmpty)
        #expect(data.offline.isEmpty)
    }

    @Test func devicePutCreatesAndReplaces() throws {
        var records = Records()
        try records.add(.devicePut, device(a))
        try records.add(.devicePut, device(b))
        try records.add(.devicePut, device(a, enabled: false, created: 42))
        let data = try replay(records)
        #expect(data.devices.count == 2)
        #expect(data.devices[a] == device(a, enabled: false, created: 42))
        #expect(data.devices[b] == device(b))
    }

    @Test func deviceRemoveDropsTheDeviceAndItsOfflineQueue() throws {
        var records = Records()
        try records.add(.devicePut, device(a))
        try records.add(.devicePut, device(b))
        try records.add(.offlineAppend, OfflineRecord(owner: a, millis: 1, stanza: ByteBuffer(string: "<message>1</message>")))
        try records.add(.offlineAppend, OfflineRecord(owner: b, millis: 2, stanza: ByteBuffer(string: "<message>2</message>")))
        try records.add(.deviceRemove, JIDMessage(jid: a))
        let data = try replay(records)
        #expect(data.devices[a] == nil)
        #expect(data.offline[a] == nil)
        #expect(data.devices[b] == device(b))
        #expect(data.offline[b]?.map(\.stanza) == [ByteBuffer(string: "<message>2</message>")])
    }

    @Test func deviceRemoveDropsItsRosterAndPendingRequests() throws {
        var records = Records()
        try records.add(.devicePut, device(a))
        try records.add(.devicePut, device(b))
        try records.add(.rosterPut, RosterSet(owner: a, item: RosterItem(jid: b, subscription: .both)))
        try records.add(.rosterPut, RosterSet(owner: b, item: RosterItem(jid: a, subscription: .both)))
        try records.add(.pendingAdd, JIDPair(owner: a, contact: "c@example.com"))
        try records.add(.pendingAdd, JIDPair(owner: b, contact: "c@example.com"))
        try records.add(.deviceRemove, JIDMessage(jid: a))
        var data = try replay(records)
        #expect(data.roster.items(of: a).isEmpty)
        #expect(data.roster.pendingRequests(of: a).isEmpty)
        // Only the removed owner's own state goes; the contact's side is the contact's business.
        #expect(data.roster.item(of: b, contact: a)?.subscription == .both)
        #expect(data.roster.pendingRequests(of: b) == ["c@example.com"])

        // A device created again under the same JID starts with an empty roster.
        try records.add(.devicePut, device(a, created: 99))
        data = try replay(records)
        #expect(data.roster.items(of: a).isEmpty)
        #expect(data.roster.subscribers(of: a).isEmpty)
    }

    @Test func deviceRemoveOfAnUnknownDeviceIsHarmless() throws {
        var records = Records()
        try records.add(.deviceRemove, JIDMessage(jid: a))
        let data = try replay(records)
        #expect(data.devices.isEmpty)
    }

    @Test func deviceCanBeRecreatedAfterRemove() throws {
        var records = Records()
        try records.add(.devicePut, device(a, created: 1))
        try records.add(.deviceRemove, JIDMessage(jid: a))
        try records.add(.devicePut, device(a, created: 2))
        let data = try replay(records)
        #expect(data.devices[a]?.createdMillis == 2)
    }

    @Test func rosterPutRestoresItemsAndRemoves() throws {
        var records = Records()
        try records.add(.rosterPut, RosterSet(owner: a, item: RosterItem(jid: b, name: "B", subscription: .none, askSubscribe: true, groups: ["Friends"])))
        try records.add(.rosterPut, RosterSet(owner: a, item: RosterItem(jid: "c@example.com", subscription: .from)))
        try records.add(.rosterPut, RosterSet(owner: a, item: RosterItem(jid: b, name: "B", subscription: .to, groups: ["Friends"])))
        try records.add(.rosterPut, RosterSet(owner: b, item: RosterItem(jid: a, subscription: .from)))
        var data = try replay(records)
        #expect(data.roster.items(of: a) == [
            RosterItem(jid: b, name: "B", subscription: .to, groups: ["Friends"]),
            RosterItem(jid: "c@example.com", subscription: .from),
        ])
        #expect(data.roster.subscriptions(of: a) == [b])
        #expect(data.roster.subscribers(of: b) == [a])

        // A subscription of `.remove` deletes the item.
        try records.add(.rosterPut, RosterSet(owner: a, item: RosterItem(jid: b, subscription: .remove)))
        data = try replay(records)
        #expect(data.roster.items(of: a).map(\.jid) == ["c@example.com"])
        #expect(data.roster.item(of: a, contact: b) == nil)
        #expect(data.roster.item(of: b, contact: a)?.subscription == .from)
    }

    @Test func pendingAddAndRemove() throws {
        var records = Records()
        try records.add(.pendingAdd, JIDPair(owner: b, contact: a))
        try records.add(.pendingAdd, JIDPair(owner: b, contact: "c@example.com"))
        try records.add(.pendingAdd, JIDPair(owner: a, contact: b))
        try records.add(.pendingRemove, JIDPair(owner: b, contact: a))
        let data = try replay(records)
        #expect(data.roster.pendingIn[b] == ["c@example.com"])
        #expect(data.roster.pendingIn[a] == [b])
    }

    /// The records `CommunityRouter.commit` writes for a whole handshake rebuild the same book.
    @Test func replayingTheOutcomesOfAHandshakeRebuildsTheBook() throws {
        var live = RosterBook()
        var records = Records()
        func persist(_ outcome: RosterBook.Outcome, owner: String, contact: String) throws {
            for item in outcome.changed { try records.add(.rosterPut, RosterSet(owner: owner, item: item)) }
            if outcome.pendingChanged {
                let pending = live.pendingIn[owner]?.contains(contact) ?? false
                try records.add(pending ? .pendingAdd : .pendingRemove, JIDPair(owner: owner, contact: contact))
            }
        }
        try persist(live.outboundSubscribe(owner: a, contact: b), owner: a, contact: b)
        try persist(live.inboundSubscribe(owner: b, from: a), owner: b, contact: a)
        var afterRequest = try replay(records)
        #expect(afterRequest.roster.pendingIn[b] == [a])
        #expect(afterRequest.roster.item(of: a, contact: b)?.askSubscribe == true)

        try persist(live.outboundSubscribed(owner: b, contact: a), owner: b, contact: a)
        try persist(live.inboundSubscribed(owner: a, from: b), owner: a, contact: b)
        try persist(live.set(owner: a, item: RosterItem(jid: b, name: "Bee", groups: ["G"])), owner: a, contact: b)
        try persist(live.inboundSubscribe(owner: a, from: "stranger@x"), owner: a, contact: "stranger@x")
        afterRequest = try replay(records)
        #expect(afterRequest.roster.rosters == live.rosters)
        #expect(afterRequest.roster.pendingIn[a] == ["stranger@x"])
        #expect(afterRequest.roster.pendingIn[b]?.isEmpty ?? true)

        let (outcome, _) = live.remove(owner: a, contact: b)
        try persist(outcome, owner: a, contact: b)
        let final = try replay(records)
        #expect(final.roster.rosters[a]?.isEmpty ?? true)
        #expect(final.roster.item(of: b, contact: a)?.subscription == .from)
    }

    @Test func offlineAppendKeepsOrderAndBytes() throws {
        let big = ByteBuffer(bytes: (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        var records = Records()
        try records.add(.offlineAppend, OfflineRecord(owner: a, millis: 10, stanza: ByteBuffer(string: "<message>é 🚀</message>")))
        try records.add(.offlineAppend, OfflineRecord(owner: b, millis: 11, stanza: ByteBuffer()))
        try records.add(.offlineAppend, OfflineRecord(owner: a, millis: 12, stanza: big))
        try records.add(.offlineAppend, OfflineRecord(owner: a, millis: .max, stanza: ByteBuffer(string: "<message>3</message>")))
        let data = try replay(records)
        #expect(data.offline[a]?.map(\.millis) == [10, 12, .max])
        #expect(data.offline[a]?.map(\.stanza) == [ByteBuffer(string: "<message>é 🚀</message>"), big, ByteBuffer(string: "<message>3</message>")])
        #expect(data.offline[b]?.map(\.millis) == [11])
        #expect(data.offline[b]?.first?.stanza.readableBytes == 0)
    }

    /// `flushOffline` writes clear + the undelivered rest.
    @Test func offlineClearThenRest() throws {
        var records = Records()
        for index in 1...3 {
            try records.add(.offlineAppend, OfflineRecord(owner: a, millis: UInt64(index), stanza: ByteBuffer(string: "<m>\(index)</m>")))
        }
        try records.add(.offlineAppend, OfflineRecord(owner: b, millis: 9, stanza: ByteBuffer(string: "<m>b</m>")))
        try records.add(.offlineClear, JIDMessage(jid: a))
        var data = try replay(records)
        #expect(data.offline[a] == nil)
        #expect(data.offline[b]?.count == 1)

        try records.add(.offlineAppend, OfflineRecord(owner: a, millis: 3, stanza: ByteBuffer(string: "<m>3</m>")))
        data = try replay(records)
        #expect(data.offline[a]?.map(\.millis) == [3])
        #expect(data.offline[a]?.first?.stanza == ByteBuffer(string: "<m>3</m>"))

        try records.add(.offlineClear, JIDMessage(jid: "nobody@x"))
        #expect(try replay(records).offline.count == 2)
    }

    @Test(arguments: [UInt8(0), 4, 9, 200, 255])
    func unknownKindThrows(kind: UInt8) throws {
        var data = RouterData()
        try data.apply(JournalRecord(kind: RouterRecord.devicePut.rawValue, sequence: 1, payload: Array(device(a).encoded().readableBytesView)))
        let error = #expect(throws: ETunnelError.self) {
            try data.apply(JournalRecord(kind: kind, sequence: 77, payload: Array(JIDMessage(jid: a).encoded().readableBytesView)))
        }
        #expect(error?.code == .badPayload)
        #expect(error?.message.contains("77") == true, "the error names the record")
        // Nothing was applied.
        #expect(data.devices[a] == device(a))
    }

    @Test(arguments: [RouterRecord.devicePut, .deviceRemove, .rosterPut, .pendingAdd, .pendingRemove, .offlineAppend, .offlineClear])
    func corruptPayloadsThrowBadPayload(kind: RouterRecord) throws {
        let valid: [UInt8] = switch kind {
        case .devicePut: Array(try device(a).encoded().readableBytesView)
        case .deviceRemove, .offlineClear: Array(try JIDMessage(jid: a).encoded().readableBytesView)
        case .rosterPut: Array(try RosterSet(owner: a, item: RosterItem(jid: b, name: "B", groups: ["G"])).encoded().readableBytesView)
        case .pendingAdd, .pendingRemove: Array(try JIDPair(owner: a, contact: b).encoded().readableBytesView)
        case .offlineAppend: Array(try OfflineRecord(owner: a, millis: 5, stanza: ByteBuffer(string: "<message/>")).encoded().readableBytesView)
        }
        // The full payload applies.
        var data = RouterData()
        try data.apply(JournalRecord(kind: kind.rawValue, sequence: 1, payload: valid))
        // Every truncation is rejected as a bad payload.
        for length in 0..<valid.count {
            var fresh = RouterData()
            let error = #expect(throws: ETunnelError.self, "\(kind) truncated to \(length) of \(valid.count) bytes") {
                try fresh.apply(JournalRecord(kind: kind.rawValue, sequence: 2, payload: Array(valid[..<length])))
            }
            #expect(error?.code == .badPayload)
        }
    }

    @Test func internalRecordCodecsRoundTrip() throws {
        let pair = JIDPair(owner: "ünïcødé@例え.jp", contact: "")
        let decodedPair = try JIDPair.decode(pair.encoded())
        #expect(decodedPair.owner == pair.owner && decodedPair.contact == pair.contact)

        let offline = OfflineRecord(owner: a, millis: .max, stanza: ByteBuffer(repeating: 0x41, count: 300 * 1024))
        let decodedOffline = try OfflineRecord.decode(offline.encoded())
        #expect(decodedOffline.owner == a && decodedOffline.millis == .max && decodedOffline.stanza == offline.stanza)
    }
}
