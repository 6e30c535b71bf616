/// Drives the generator processes (or the in-process engine) through a scenario: broadcasts
/// each command to every worker at once, merges what they answer, and samples CPU and memory
/// around every phase. The scenarios themselves are in `Scenarios.swift`.
public struct Coordinator: Sendable {
    public let configuration: BenchConfiguration
    public let workers: [any WorkerLink]
    public let targetPIDs: [Int32]
    /// Where progress lines go (stdout for the CLI, nowhere in tests).
    public let log: @Sendable (String) -> Void

    public init(configuration: BenchConfiguration, workers: [any WorkerLink], targetPIDs: [Int32], log: @escaping @Sendable (String) -> Void) {
        self.configuration = configuration
        self.workers = workers
        self.targetPIDs = targetPIDs
        self.log = log
    }

    func makeSampler() -> ResourceSampler {
        var pids = [getpidValue()]
        for worker in workers where !pids.contains(worker.pid) { pids.append(worker.pid) }
        return ResourceSampler(generatorPIDs: pids, targetPIDs: targetPIDs)
    }

    /// Sends `command(i)` to worker i, all at once; fails if any worker fails.
    func broadcast(_ command: @escaping @Sendable (Int) -> WorkerCommand) async throws -> [WorkerReply] {
        try await withThrowingTaskGroup(of: (Int, WorkerReply).self) { group in
            for (index, worker) in workers.enumerated() {
                group.addTask { (index, try await worker.call(command(index))) }
            }
            var replies = [WorkerReply?](repeating: nil, count: workers.count)
            for try await (index, reply) in group {
                if case .failed(let message) = reply { throw WorkerProtocolError("worker \(index + 1): \(message)") }
                replies[index] = reply
            }
            return replies.map { $0! }
        }
    }

    /// A start time shortly in the future, so every process starts its schedule together.
    func startTime(in milliseconds: UInt64 = 100) -> UInt64 { MonotonicClock.now() + milliseconds * 1_000_000 }

    func connect(rate: Double) async throws -> ConnectStats {
        let start = startTime()
        var merged = ConnectStats()
        for reply in try await broadcast({ _ in .connect(startNs: start, rate: rate) }) {
            guard case .connected(let stats) = reply else { throw WorkerProtocolError("unexpected reply \(reply)") }
            merged.merge(stats)
        }
        return merged
    }

    func disconnect() async throws {
        _ = try await broadcast { _ in .disconnect }
    }

    func status() async throws -> ShardStatus {
        var merged = ShardStatus()
        for reply in try await broadcast({ _ in .status }) {
            guard case .status(let status) = reply else { throw WorkerProtocolError("unexpected reply \(reply)") }
            merged.merge(status)
        }
        return merged
    }

    public func shutdown() async {
        _ = try? await broadcast { _ in .shutdown }
        for worker in workers {
            if let process = worker as? ProcessWorkerLink { await process.finish() }
        }
    }

    static func phaseSummary(_ stats: ConnectStats, targetRate: Double, usage: Usage) -> PhaseSummary {
        PhaseSummary(
            targetRate: targetRate, attempted: stats.attempted, connected: stats.connected, failed: stats.failed,
            failures: stats.failureList, seconds: (stats.seconds * 1000).rounded() / 1000,
            loginsPerSecond: stats.loginsPerSecond.rounded(), loginLatencyMs: stats.latency.summary,
            scheduleLagMs: stats.lag.summary, usage: usage)
    }
}

#if canImport(Glibc)
import Glibc
#endif

func getpidValue() -> Int32 { getpid() }
