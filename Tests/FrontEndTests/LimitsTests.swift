import Foundation
import MMGSShared
import Synchronization
import NIOCore
import Testing
@testable import MMGSFrontEnd

@Suite struct TokenBucketTests {
    @Test func aBurstGoesAtOnceThenTheRateHolds() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var bucket = TokenBucket(rate: 100, burst: 5, now: start)
        for _ in 0 ..< 5 { #expect(bucket.take(now: start) == nil) }
        let wait = bucket.take(now: start)
        #expect(wait != nil && wait! > .zero && wait! <= .milliseconds(10), "one token takes 10 ms at 100/s: \(String(describing: wait))")
        #expect(bucket.take(now: start + .milliseconds(10)) == nil, "a token is back after 1/rate")
        #expect(bucket.take(now: start + .milliseconds(10)) != nil)
    }

    @Test func savedTokensNeverExceedTheBurst() {
        let start = NIODeadline.uptimeNanoseconds(0)
        var bucket = TokenBucket(rate: 1000, burst: 3, now: start)
        let later = start + .seconds(60)
        for _ in 0 ..< 3 { #expect(bucket.take(now: later) == nil) }
        #expect(bucket.take(now: later) != nil, "a minute of silence saves at most the burst")
    }
}

@Suite struct FailureBackoffTests {
    static let t0 = NIODeadline.uptimeNanoseconds(5_000_000_000)

    @Test func eachFailureOfAnAccountDoublesTheWaitUpToTheMaximum() {
        var backoff = FailureBackoff(base: .milliseconds(250), maximum: .seconds(2), window: .seconds(60), addressAllowance: 100)
        let waits = (0 ..< 6).map { _ in backoff.failed(account: "a@x", address: "10.0.0.1", now: Self.t0) }
        #expect(waits == [.milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(2), .seconds(2)])
        #expect(backoff.failed(account: "b@x", address: "10.0.0.1", now: Self.t0) == .milliseconds(250), "another account starts over")
    }

    @Test func aSuccessClearsTheAccountAndTheWindowForgets() {
        var backoff = FailureBackoff(base: .milliseconds(100), maximum: .seconds(10), window: .seconds(60), addressAllowance: 100)
        _ = backoff.failed(account: "a@x", address: nil, now: Self.t0)
        _ = backoff.failed(account: "a@x", address: nil, now: Self.t0)
        backoff.succeeded(account: "a@x")
        #expect(backoff.failed(account: "a@x", address: nil, now: Self.t0) == .milliseconds(100))
        #expect(backoff.failed(account: "a@x", address: nil, now: Self.t0 + .seconds(61)) == .milliseconds(100), "a failure after the window counts as the first")
    }

    @Test func anAddressIsSlowedOnlyPastItsAllowance() {
        var backoff = FailureBackoff(base: .milliseconds(100), maximum: .seconds(10), window: .seconds(60), addressAllowance: 3)
        // Different accounts from one address: free until the allowance is used up.
        let waits = (0 ..< 5).map { backoff.failed(account: "u\($0)@x", address: "192.0.2.7", now: Self.t0) }
        #expect(waits == [.milliseconds(100), .milliseconds(100), .milliseconds(100), .milliseconds(100), .milliseconds(200)])
    }

    @Test func theTableStaysBounded() {
        var backoff = FailureBackoff(base: .milliseconds(1), maximum: .seconds(1), window: .seconds(60), addressAllowance: 0, capacity: 100)
        for index in 0 ..< 1000 { _ = backoff.failed(account: "u\(index)@x", address: nil, now: Self.t0 + .milliseconds(Int64(index))) }
        #expect(backoff.count <= 101)
        #expect(backoff.failures(ofAccount: "u999@x") == 1, "the newest is kept")
    }

    @Test func noBaseMeansNoWait() {
        var backoff = FailureBackoff(base: .zero, maximum: .seconds(8), window: .seconds(60))
        #expect(backoff.failed(account: "a@x", address: "h", now: Self.t0) == .zero)
    }
}

@Suite struct CloseRetryTests {
    /// A close that is dropped (the router does not answer) is tried again until one lands:
    /// a lost close used to leave the router a ghost session.
    @Test func aDroppedCloseIsRetriedUntilItLands() async {
        let attempts = Counter()
        let retry = CloseRetry(attempts: 5, firstDelay: .milliseconds(1), maxDelay: .milliseconds(4))
        let closed = await retry.run {
            if attempts.increment() <= 2 { throw CancellationError() }  // dropped twice
            return true
        }
        #expect(closed)
        #expect(attempts.value == 3)
    }

    @Test func itGivesUpAfterItsAttempts() async {
        let attempts = Counter()
        let retry = CloseRetry(attempts: 4, firstDelay: .milliseconds(1), maxDelay: .milliseconds(2))
        let closed = await retry.run { () async throws -> Bool in
            attempts.increment()
            throw CancellationError()
        }
        #expect(!closed)
        #expect(attempts.value == 4)
    }

    final class Counter: Sendable {
        private let count = Mutex(0)
        @discardableResult func increment() -> Int { count.withLock { $0 += 1; return $0 } }
        var value: Int { count.withLock { $0 } }
    }
}
