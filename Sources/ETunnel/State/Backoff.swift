/// Jittered exponential backoff: the n-th retry waits a uniform random time in
/// [base/2, min(cap, base × 2ⁿ)] ("full jitter" with a floor, so a refusing peer never gets a
/// tight reconnect loop), so peers that lost the same node do not reconnect in lockstep.
public struct Backoff: Sendable, Equatable {
    public var base: Duration
    public var cap: Duration

    public init(base: Duration = .milliseconds(50), cap: Duration = .seconds(2)) {
        precondition(base > .zero && cap >= base, "backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
    }

    /// The ceiling of the n-th delay (attempt 0 is the first retry).
    public func ceiling(attempt: Int) -> Duration {
        let shift = min(attempt, 30)
        let ceiling = base * (1 << shift)
        return min(ceiling, cap)
    }

    public func delay<R: RandomNumberGenerator>(attempt: Int, using generator: inout R) -> Duration {
        let ceilingNanos = ceiling(attempt: attempt).nanoseconds
        // Never zero: a tight reconnect loop against a refusing peer costs CPU for nothing.
        let floor = min(base.nanoseconds / 2, ceilingNanos)
        return .nanoseconds(Int64.random(in: floor...ceilingNanos, using: &generator))
    }

    public func delay(attempt: Int) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay(attempt: attempt, using: &generator)
    }
}

extension Duration {
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    public var milliseconds: Double { Double(nanoseconds) / 1e6 }
}
