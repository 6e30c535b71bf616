@testable import BenchKit
import Testing

@Suite("Sequence gaps")
struct SequenceTrackerTests {
    @Test func inOrderHasNoHoles() {
        var tracker = SequenceTracker()
        for sequence in 0..<100 { #expect(tracker.record(UInt64(sequence)) == .inOrder) }
        #expect(tracker.received == 100)
        #expect(tracker.missing == 0)
        #expect(tracker.next == 100)
    }

    @Test func aJumpOpensHolesAndLateArrivalsCloseThem() {
        var tracker = SequenceTracker()
        tracker.record(0)
        #expect(tracker.record(4) == .ahead(skipped: 3))
        #expect(tracker.missing == 3)
        #expect(tracker.record(2) == .reordered)
        #expect(tracker.missing == 2)
        #expect(tracker.holes == [1, 3])
        #expect(tracker.record(2) == .duplicate)
        #expect(tracker.record(4) == .duplicate)
        #expect(tracker.received == 3)
        #expect(tracker.duplicates == 2)
        #expect(tracker.reordered == 1)
    }

    @Test func hugeJumpsAreCountedNotStored() {
        var tracker = SequenceTracker()
        tracker.record(10_000_000)
        #expect(tracker.missing == 10_000_000)
        #expect(tracker.holes.isEmpty)
    }

    @Test func chatBodyRoundTripAndPadding() {
        let body = ChatBody(step: 3, sender: 41, sequence: 7, scheduledNs: 123_456_789, sentNs: 123_456_999)
        #expect(ChatBody(parsing: body.encoded()) == body)
        let padded = body.encoded(size: 120)
        #expect(padded.utf8.count == 120)
        #expect(ChatBody(parsing: padded) == body)
        #expect(ChatBody(parsing: "hello there") == nil)
        #expect(ChatBody(parsing: "mmgsb 1 2 3 x 5") == nil)
        #expect(ChatBody(parsing: "mmgsb 1 2 3 99999999999999999999999 5") == nil)
    }
}
