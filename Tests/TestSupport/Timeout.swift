import Synchronization

/// Thrown by `withTimeout` when the body did not finish in time.
public struct TimeoutError: Error, CustomStringConvertible {
    public var seconds: Double
    public var what: String
    public var description: String { "timed out after \(seconds) s waiting for \(what)" }
}

/// Runs `body` and returns its result, or throws `TimeoutError` after `seconds`.
///
/// Unlike a task-group race this does not wait for a body that ignores cancellation: on timeout
/// the body's task is cancelled and abandoned, so a test can never hang on it.
public func withTimeout<T: Sendable>(
    seconds: Double, _ what: String = "the operation",
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let race = Race<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            race.install(continuation)
            let work = Task {
                do { race.finish(.success(try await body())) } catch { race.finish(.failure(error)) }
            }
            let timer = Task {
                try? await Task.sleep(for: .seconds(seconds))
                if race.finish(.failure(TimeoutError(seconds: seconds, what: what))) { work.cancel() }
            }
            race.setTasks(work: work, timer: timer)
        }
    } onCancel: {
        race.cancelWork()
    }
}

/// Polls `condition` every `interval` until it holds; returns false if it did not within `seconds`.
public func waitUntil(
    seconds: Double, interval: Duration = .milliseconds(5), _ condition: @Sendable () -> Bool
) async -> Bool {
    let clock = ContinuousClock()
    let end = clock.now + .seconds(seconds)
    while true {
        if condition() { return true }
        if clock.now >= end { return false }
        try? await Task.sleep(for: interval)
    }
}

/// Seconds elapsed since `start`, as a Double.
public func secondsSince(_ start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock().now - start
    let (s, atto) = d.components
    return Double(s) + Double(atto) / 1e18
}

private final class Race<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var early: Result<T, any Error>?
        var done = false
        var work: Task<Void, Never>?
        var timer: Task<Void, Never>?
    }
    private let state = Mutex(State())

    func install(_ continuation: CheckedContinuation<T, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    func setTasks(work: Task<Void, Never>, timer: Task<Void, Never>) {
        let cancelTimer = state.withLock { s -> Bool in
            s.work = work
            s.timer = timer
            return s.done
        }
        if cancelTimer { timer.cancel() }
    }

    /// Returns true if this call decided the race.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let (continuation, timer) = state.withLock { s -> (CheckedContinuation<T, any Error>?, Task<Void, Never>?) in
            guard !s.done else { return (nil, nil) }
            s.done = true
            let c = s.continuation
            s.continuation = nil
            return (c, s.timer)
        }
        guard let continuation else { return false }
        timer?.cancel()
        continuation.resume(with: result)
        return true
    }

    func cancelWork() {
        let work = state.withLock { $0.work }
        work?.cancel()
    }
}
