import MMGSShared
import NIOCore
import Synchronization

/// Failed SASL attempts by account and by source address (pure, time passed in): each failure
/// within the window doubles the wait before its `<failure/>` is sent, so guessing passwords
/// costs time per account and per address, while a device that got its password right once is
/// not slowed. Bounded: at most `capacity` keys, the stalest forgotten first.
struct FailureBackoff: Sendable {
    let base: TimeAmount
    let maximum: TimeAmount
    let window: TimeAmount
    let capacity: Int
    /// Failures of an address that cost nothing (shared addresses); its back-off starts after.
    let addressAllowance: Int
    private var entries: [String: (failures: Int, last: NIODeadline)] = [:]

    init(base: TimeAmount, maximum: TimeAmount, window: TimeAmount, addressAllowance: Int = 16, capacity: Int = 65_536) {
        self.base = base
        self.addressAllowance = max(addressAllowance, 0)
        self.maximum = maximum
        self.window = window
        self.capacity = max(capacity, 2)
    }

    init(_ limits: ServiceLimits) {
        self.init(base: .milliseconds(Int64(limits.authBackoffBaseMillis)), maximum: .milliseconds(Int64(limits.authBackoffMaxMillis)),
                  window: .seconds(Int64(limits.authBackoffWindowSeconds)), addressAllowance: limits.authBackoffAddressAllowance)
    }

    /// Records a failure of `account` (from `address`, when known); returns how long to wait
    /// before answering it: the longer of the account's and the address's back-off.
    mutating func failed(account: String, address: String?, now: NIODeadline) -> TimeAmount {
        let byAccount = record("account:" + account, now: now)
        let byAddress = address.map { record("address:" + $0, now: now) - addressAllowance } ?? 0
        if entries.count > capacity { forgetStalest(now: now) }
        return delay(failures: max(byAccount, byAddress))
    }

    /// A success clears the account's failures (not the address's: one right password from an
    /// address must not reset the count of another account's guesses from it).
    mutating func succeeded(account: String) { entries["account:" + account] = nil }

    private mutating func record(_ key: String, now: NIODeadline) -> Int {
        var entry = entries[key] ?? (0, now)
        if now - entry.last > window { entry.failures = 0 }
        entry.failures += 1
        entry.last = now
        entries[key] = entry
        return entry.failures
    }

    func failures(ofAccount account: String) -> Int { entries["account:" + account]?.failures ?? 0 }

    var count: Int { entries.count }

    func delay(failures: Int) -> TimeAmount {
        guard failures > 0, base > .zero else { return .zero }
        let doublings = min(failures - 1, 30)
        let nanos = base.nanoseconds.multipliedReportingOverflow(by: Int64(1) << doublings)
        return nanos.overflow ? maximum : min(.nanoseconds(nanos.partialValue), maximum)
    }

    private mutating func forgetStalest(now: NIODeadline) {
        entries = entries.filter { now - $0.value.last <= window }
        guard entries.count > capacity else { return }
        let keep = entries.sorted { $0.value.last > $1.value.last }.prefix(capacity / 2)
        entries = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
    }
}

/// The front-end's one `FailureBackoff`, shared by its streams. Only arithmetic under the lock.
final class AuthThrottle: Sendable {
    private let state: Mutex<FailureBackoff>

    init(_ backoff: FailureBackoff) { state = Mutex(backoff) }

    func failed(account: String, address: String?, now: NIODeadline = .now()) -> TimeAmount {
        state.withLock { $0.failed(account: account, address: address, now: now) }
    }

    func succeeded(account: String) { state.withLock { $0.succeeded(account: account) } }
}
