/// Per-sender sequence numbers seen by one receiver, to find messages that never arrived.
///
/// A sender numbers its messages to this receiver 0, 1, 2…; the server must deliver them in
/// order (RFC 6121 §8: one full JID, one stream). A jump forward opens holes; a late arrival that
/// fills a hole counts as reordered; anything else at or below the highest seen is a duplicate.
/// Holes still open after the drain period are messages the server lost. Messages lost at the
/// tail (after the last one that arrived) leave no hole, so reports also compare the totals
/// sent and received.
public struct SequenceTracker: Sendable, Hashable {
    /// The next sequence number expected (one past the highest seen).
    public private(set) var next: UInt64 = 0
    /// Sequence numbers skipped and not (yet) received.
    public private(set) var holes: Set<UInt64> = []
    public private(set) var received: UInt64 = 0
    public private(set) var reordered: UInt64 = 0
    public private(set) var duplicates: UInt64 = 0
    /// Holes not tracked individually because a single jump was absurdly large (a corrupt
    /// sequence number must not exhaust memory); counted instead.
    public private(set) var untrackedHoles: UInt64 = 0
    static let maxTrackedJump: UInt64 = 100_000

    public init() {}

    public enum Arrival: Sendable, Equatable { case inOrder, ahead(skipped: UInt64), reordered, duplicate }

    @discardableResult
    public mutating func record(_ sequence: UInt64) -> Arrival {
        if sequence == next {
            next += 1
            received += 1
            return .inOrder
        }
        if sequence > next {
            let skipped = sequence - next
            if skipped <= Self.maxTrackedJump {
                for missing in next..<sequence { holes.insert(missing) }
            } else {
                untrackedHoles += skipped
            }
            next = sequence + 1
            received += 1
            return .ahead(skipped: skipped)
        }
        if holes.remove(sequence) != nil {
            received += 1
            reordered += 1
            return .reordered
        }
        duplicates += 1
        return .duplicate
    }

    /// Sequence numbers missing below the highest one received.
    public var missing: UInt64 { UInt64(holes.count) + untrackedHoles }
}
