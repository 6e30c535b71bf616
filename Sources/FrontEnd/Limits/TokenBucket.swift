import NIOCore

/// A stream's stanza rate: `rate` tokens a second, at most `burst` saved up. Pure, with time
/// passed in; the stream handler asks before each stanza and, when told to wait, stops reading
/// the device until then (TCP then slows the sender down; nothing is dropped).
struct TokenBucket: Sendable {
    let rate: Int
    let burst: Int
    private var tokens: Double
    private var updated: NIODeadline

    init(rate: Int, burst: Int, now: NIODeadline) {
        self.rate = max(rate, 1)
        self.burst = max(burst, 1)
        self.tokens = Double(self.burst)
        self.updated = now
    }

    /// Takes one token: nil when the stanza may go now, else how long until a token is there
    /// (nothing is taken then).
    mutating func take(now: NIODeadline) -> TimeAmount? {
        let elapsed = Double(max((now - updated).nanoseconds, 0)) / 1e9
        tokens = min(Double(burst), tokens + elapsed * Double(rate))
        updated = now
        if tokens >= 1 {
            tokens -= 1
            return nil
        }
        let seconds = (1 - tokens) / Double(rate)
        return .nanoseconds(max(Int64((seconds * 1e9).rounded(.up)), 1))
    }
}
