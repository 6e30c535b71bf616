import NIOCore
import StanzaRouting
import Testing

/// Strings a client controls end up in u16-length fields. The XML limits bound attributes (16 KiB
/// per tag) but not element text: a roster `<group>` may hold up to the stanza limit (256 KiB).
@Suite struct CodecLimitTests {
    /// PRODUCT BUG (fails today). A client's roster set with one `<group>` of more than 65 535
    /// UTF-8 bytes (legal within the 256 KiB stanza limit) is turned into a `RosterItem` by the
    /// front-end (C2SHandler+Established.swift:143-149, no length check) and encoded by
    /// `RouterClient.rosterSet` → `RosterItem.encode` → `writeStringList` → `writeShortString`,
    /// whose `precondition` (ETunnel/Messages/ByteBuffer+Payload.swift:26) traps: any
    /// authenticated client can crash its front-end, dropping every stream on it.
    @Test func encodingAnOversizedRosterGroupDoesNotTrap() async {
        await #expect(processExitsWith: .success, "RosterItem.encode traps on a group > 65 535 bytes") {
            let item = RosterItem(jid: "b@example.com", name: "B", groups: [String(repeating: "g", count: 70_000)])
            _ = RosterSet(owner: "a@example.com", item: item).encoded()
        }
    }

    /// The largest group that fits still round-trips (the boundary of the bug above).
    @Test func aGroupOfExactlyTheU16LimitRoundTrips() throws {
        let group = String(repeating: "g", count: Int(UInt16.max))
        let item = RosterItem(jid: "b@example.com", groups: [group])
        #expect(try RosterItem.decode(item.encoded()) == item)
    }
}
