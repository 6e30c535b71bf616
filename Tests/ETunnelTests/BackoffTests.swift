import ETunnel
import Testing
import TestSupport

/// Reconnect backoff: jittered, exponential, floored at base/2, capped.
@Suite("Backoff")
struct BackoffTests {
    static let configurations: [(base: Duration, cap: Duration)] = [
        (.milliseconds(50), .seconds(2)),   // the default
        (.milliseconds(1), .milliseconds(1)),
        (.milliseconds(10), .seconds(10)),
        (.seconds(1), .seconds(3)),
        (.nanoseconds(3), .nanoseconds(1000)),
        (.seconds(5), .seconds(3600)),
    ]

    /// min(cap, base × 2ⁿ) computed without overflow.
    static func expectedCeiling(base: Duration, cap: Duration, attempt: Int) -> Int64 {
        var ceiling = base.nanoseconds
        for _ in 0..<attempt {
            if ceiling >= cap.nanoseconds { break }
            ceiling *= 2
        }
        return min(ceiling, cap.nanoseconds)
    }

    @Test("every delay is within [base/2, min(cap, base·2ⁿ)] and never above cap",
          arguments: 0..<BackoffTests.configurations.count)
    func bounds(configuration index: Int) {
        let (base, cap) = Self.configurations[index]
        let backoff = Backoff(base: base, cap: cap)
        var rng = SplitMix64(seed: 0xBAC0FF + UInt64(index))
        for attempt in 0..<200 {
            let ceiling = Self.expectedCeiling(base: base, cap: cap, attempt: attempt)
            #expect(backoff.ceiling(attempt: attempt).nanoseconds == ceiling, "ceiling of attempt \(attempt)")
            let floor = min(base.nanoseconds / 2, ceiling)
            for _ in 0..<50 {
                let delay = backoff.delay(attempt: attempt, using: &rng).nanoseconds
                #expect(delay >= floor && delay <= ceiling, "attempt \(attempt): \(delay) ns outside [\(floor), \(ceiling)]")
                #expect(delay <= cap.nanoseconds)
            }
        }
    }

    @Test("the ceiling doubles from base, then stays at cap")
    func ceilingGrowth() {
        let backoff = Backoff()  // 50 ms … 2 s
        let expected: [Duration] = [.milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(400),
                                    .milliseconds(800), .milliseconds(1600), .seconds(2), .seconds(2)]
        for (attempt, ceiling) in expected.enumerated() {
            #expect(backoff.ceiling(attempt: attempt) == ceiling)
        }
        #expect(backoff.ceiling(attempt: 10_000) == .seconds(2))
        #expect(backoff.ceiling(attempt: Int.max) == .seconds(2))
    }

    @Test("the system generator also stays in bounds")
    func systemGenerator() {
        let backoff = Backoff()
        for attempt in 0..<100 {
            let delay = backoff.delay(attempt: attempt)
            #expect(delay >= .milliseconds(25) && delay <= min(.seconds(2), backoff.ceiling(attempt: attempt)))
        }
    }

    @Test("jitter spreads delays over the range (peers do not reconnect in lockstep)")
    func jitterSpread() {
        let backoff = Backoff(base: .milliseconds(50), cap: .seconds(2))
        var rng = SplitMix64(seed: 7)
        let samples = (0..<2000).map { _ in backoff.delay(attempt: 20, using: &rng).milliseconds }
        let low = samples.filter { $0 < 500 }.count
        let high = samples.filter { $0 > 1500 }.count
        #expect(samples.min()! >= 25 && samples.max()! <= 2000)
        #expect(low > 300 && high > 300, "\(low) below 500 ms, \(high) above 1500 ms")
        #expect(Set(samples).count > 1900, "delays are distinct")
    }

    @Test("the same seed gives the same delays")
    func deterministic() {
        let backoff = Backoff()
        var a = SplitMix64(seed: 42)
        var b = SplitMix64(seed: 42)
        let first = (0..<50).map { backoff.delay(attempt: $0, using: &a) }
        let second = (0..<50).map { backoff.delay(attempt: $0, using: &b) }
        #expect(first == second)
    }

    @Test("Duration helpers")
    func durationHelpers() {
        #expect(Duration.milliseconds(100).nanoseconds == 100_000_000)
        #expect(Duration.seconds(3).nanoseconds == 3_000_000_000)
        #expect(Duration.nanoseconds(7).nanoseconds == 7)
        #expect(Duration.milliseconds(1500).milliseconds == 1500)
    }
}
