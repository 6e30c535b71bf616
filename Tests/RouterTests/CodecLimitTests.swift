import ETunnel
import Foundation
import NIOCore
import StanzaRouting
import Testing

/// Counts and lengths that a client or a peer controls end up in fixed-width fields. Encoding
/// one that does not fit must be refused with `frameTooLarge`, never trap (a trap takes the
/// whole node down) and never cut the value silently.
@Suite struct CodecLimitTests {
    /// A roster `<group>` of more than 65,535 UTF-8 bytes (legal within the 256 KiB stanza
    /// limit) does not fit its u16 length: the encoder says so.
    @Test func anOversizedRosterGroupIsRefusedNotCut() async throws {
        let item = RosterItem(jid: "b@example.com", name: "B", groups: [String(repeating: "g", count: 70_000)])
        #expect(throws: ETunnelError.self) { try RosterSet(owner: "a@example.com", item: item).encoded() }
        await #expect(processExitsWith: .success, "encoding an oversized group traps") {
            let item = RosterItem(jid: "b@example.com", name: "B", groups: [String(repeating: "g", count: 70_000)])
            _ = try? RosterSet(owner: "a@example.com", item: item).encoded()
        }
    }

    /// The largest group that fits still round-trips (the boundary).
    @Test func aGroupOfExactlyTheU16LimitRoundTrips() throws {
        let group = String(repeating: "g", count: Int(UInt16.max))
        let item = RosterItem(jid: "b@example.com", groups: [group])
        #expect(try RosterItem.decode(item.encoded()) == item)
    }

    /// One account with 300 resources at equal priority made the router trap on a message to
    /// its own bare JID (`UInt8(targets.count)`); a lease now has a u16 count, and one beyond
    /// that is refused.
    @Test func aLeaseOf300TargetsRoundTripsAndOneBeyondU16IsRefused() async throws {
        let targets = (0 ..< 300).map { SessionAddress(frontend: "fe-\($0 % 3)", stream: UInt64($0)) }
        let lease = DeliveryLease(version: 7, targets: targets)
        #expect(try DeliveryLease.decode(lease.encoded()) == lease)
        await #expect(processExitsWith: .success, "encoding a lease of 70,000 targets traps") {
            let many = (0 ..< 70_000).map { SessionAddress(frontend: "f", stream: UInt64($0)) }
            do {
                _ = try DeliveryLease(version: 1, targets: many).encoded()
                exit(1)  // must have thrown
            } catch {
                exit((error as? ETunnelError)?.code == .frameTooLarge ? 0 : 2)
            }
        }
    }

    @Test func writeCountRefusesWhatDoesNotFit() throws {
        var buffer = ByteBuffer()
        #expect(try buffer.writeCount(255, as: UInt8.self, field: "n") == 1)
        #expect(throws: ETunnelError.self) { try buffer.writeCount(256, as: UInt8.self, field: "n") }
        #expect(throws: ETunnelError.self) { try buffer.writeCount(-1, as: UInt16.self, field: "n") }
        #expect(buffer.readableBytes == 1, "a refused count writes nothing")
    }
}
