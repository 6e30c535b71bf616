/// The body of a benchmark chat message: `mmgsb STEP SENDER SEQ SCHEDULED_NS SENT_NS [padding]`.
///
/// The receiver needs everything in the message itself, because sender and receiver may live in
/// different generator processes: which step it belongs to, who sent it (for per-sender gap
/// detection), its sequence number on that sender→receiver pair, and two monotonic timestamps.
/// `SCHEDULED_NS` is when the open-loop schedule wanted it sent, so time-to-delivery includes
/// any lag of the generator (no coordinated omission); `SENT_NS` is when it was written, so the
/// generator's own lag can be told apart. CLOCK_MONOTONIC is shared by all processes of a
/// machine, which is what makes cross-process latencies valid.
public struct ChatBody: Sendable, Hashable {
    public static let marker = "mmgsb"

    public var step: Int
    public var sender: Int
    public var sequence: UInt64
    public var scheduledNs: UInt64
    public var sentNs: UInt64

    public init(step: Int, sender: Int, sequence: UInt64, scheduledNs: UInt64, sentNs: UInt64) {
        self.step = step
        self.sender = sender
        self.sequence = sequence
        self.scheduledNs = scheduledNs
        self.sentNs = sentNs
    }

    /// The text, padded with `x` to at least `size` bytes.
    public func encoded(size: Int = 0) -> String {
        var text = "\(Self.marker) \(step) \(sender) \(sequence) \(scheduledNs) \(sentNs)"
        if text.utf8.count < size {
            text += " " + String(repeating: "x", count: max(0, size - text.utf8.count - 1))
        }
        return text
    }

    /// Parses a body; nil for anything that is not a benchmark message (other traffic on the
    /// account, a server notice).
    public init?(parsing text: String) {
        var fields = text.utf8.split(separator: UInt8(ascii: " "), maxSplits: 6, omittingEmptySubsequences: true)
        guard fields.count >= 6, fields[0].elementsEqual(Self.marker.utf8) else { return nil }
        if fields.count > 6 { fields.removeLast(fields.count - 6) }
        guard let step = Self.integer(fields[1]), let sender = Self.integer(fields[2]), let sequence = Self.integer(fields[3]),
              let scheduled = Self.integer(fields[4]), let sent = Self.integer(fields[5]) else { return nil }
        self.init(step: Int(step), sender: Int(sender), sequence: sequence, scheduledNs: scheduled, sentNs: sent)
    }

    private static func integer(_ bytes: Substring.UTF8View.SubSequence) -> UInt64? {
        guard !bytes.isEmpty, bytes.count <= 20 else { return nil }
        var value: UInt64 = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            value = sum
        }
        return value
    }
}
