import Journal
import NIOCore
import StanzaRouting
import Testing

@testable import MMGSRouter

/// A snapshot must rebuild exactly the state the journal records built.
@Suite("Router snapshots")
struct RouterSnapshotTests {
    @Test("snapshot then restore gives the same devices, rosters, pending requests and offline queues")
    func roundTrip() throws {
        var data = RouterData()
        let device = DeviceRecord(bareJID: "alice@x.test", imei: "1", createdMillis: 5, credentials: [ByteBuffer(bytes: [1, 2, 3])])
        let other = DeviceRecord(bareJID: "bob@x.test", enabled: false, createdMillis: 6, credentials: [])
        var sequence: UInt64 = 0
        func apply(_ kind: RouterRecord, _ payload: ByteBuffer) throws {
            sequence += 1
            try data.apply(JournalRecord(kind: kind.rawValue, sequence: sequence, payload: Array(payload.readableBytesView)))
        }
        try apply(.devicePut, device.encoded())
        try apply(.devicePut, other.encoded())
        try apply(.rosterPut, RosterSet(owner: "alice@x.test", item: RosterItem(jid: "bob@x.test", name: "Bob", subscription: .both, groups: ["g"])).encoded())
        try apply(.pendingAdd, JIDPair(owner: "bob@x.test", contact: "carol@x.test").encoded())
        try apply(.offlineAppend, OfflineRecord(owner: "bob@x.test", millis: 42, stanza: ByteBuffer(string: "<message/>")).encoded())
        try apply(.offlineAppend, OfflineRecord(owner: "bob@x.test", millis: 43, stanza: ByteBuffer(string: "<message id='2'/>")).encoded())

        var restored = RouterData()
        try restored.restore(snapshot: data.snapshot())
        #expect(restored.devices == data.devices)
        #expect(restored.roster.items(of: "alice@x.test") == data.roster.items(of: "alice@x.test"))
        #expect(restored.roster.pendingIn == data.roster.pendingIn)
        #expect(restored.offline["bob@x.test"]?.map(\.millis) == [42, 43])
        #expect(restored.offline["bob@x.test"]?.map { String(buffer: $0.stanza) } == ["<message/>", "<message id='2'/>"])
    }

    @Test("a truncated snapshot is refused, not half-applied silently")
    func truncated() throws {
        var data = RouterData()
        try data.apply(JournalRecord(kind: RouterRecord.devicePut.rawValue, sequence: 1,
                                     payload: Array(DeviceRecord(bareJID: "a@x.test", createdMillis: 1, credentials: []).encoded().readableBytesView)))
        let bytes = try data.snapshot()
        for cut in 1..<bytes.count {
            var restored = RouterData()
            #expect(throws: (any Error).self) { try restored.restore(snapshot: Array(bytes.prefix(cut))) }
        }
    }
}
