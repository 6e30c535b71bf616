/// An open-loop schedule: operation `k` is due at `start + k / rate`, whatever happened to the
/// operations before it.
///
/// This is what keeps the generator honest (no coordinated omission): a send never waits for a
/// delivery, and a generator that wakes late sends everything that became due meanwhile, each
/// stamped with the time it *should* have gone out, and records how late it was (``lagNs(of:at:)``)
/// so that lag shows up in the results instead of silently lowering the offered load.
public struct OpenLoopSchedule: Sendable, Hashable {
    public let startNs: UInt64
    /// Operations per second.
    public let rate: Double
    /// Number of operations in the schedule.
    public let count: Int
    /// Index of the next operation not yet handed out by ``due(at:)``.
    public private(set) var next = 0

    /// - Parameters:
    ///   - count: total operations; for a timed step use ``operations(rate:seconds:)``.
    public init(startNs: UInt64, rate: Double, count: Int) {
        precondition(rate > 0, "rate must be positive")
        self.startNs = startNs
        self.rate = rate
        self.count = max(0, count)
    }

    /// The number of operations a step of `seconds` at `rate` schedules.
    public static func operations(rate: Double, seconds: Double) -> Int {
        Int((rate * seconds).rounded(.down))
    }

    /// When operation `k` is due.
    public func time(of k: Int) -> UInt64 {
        startNs &+ UInt64((Double(k) * 1e9 / rate).rounded())
    }

    /// How late operation `k` is when done at `now` (0 if early or on time).
    public func lagNs(of k: Int, at now: UInt64) -> UInt64 {
        let due = time(of: k)
        return now > due ? now - due : 0
    }

    /// Hands out every operation due at `now` that was not handed out before.
    public mutating func due(at now: UInt64) -> Range<Int> {
        let first = next
        guard now >= startNs, next < count else { return first..<first }
        // Operations with time(k) <= now: k <= (now - start) * rate / 1e9. The division is exact
        // enough; the loop corrects rounding at the boundary.
        var last = min(count, Int((Double(now - startNs) * rate / 1e9).rounded(.down)) + 1)
        while last > first, time(of: last - 1) > now { last -= 1 }
        while last < count, time(of: last) <= now { last += 1 }
        next = max(next, last)
        return first..<next
    }

    /// When the next operation is due, nil when the schedule is done.
    public var nextDueNs: UInt64? { next < count ? time(of: next) : nil }

    public var isFinished: Bool { next >= count }

    /// When the last operation is due (the schedule's nominal end).
    public var endNs: UInt64 { count == 0 ? startNs : time(of: count - 1) }
}
