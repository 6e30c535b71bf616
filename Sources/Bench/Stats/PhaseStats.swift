/// Failed logins of one reason: how many, and one server text as an example.
public struct FailureCount: Sendable, Codable, Hashable {
    public var reason: String
    public var count: Int
    public var sample: String?

    public init(reason: String, count: Int, sample: String?) {
        self.reason = reason
        self.count = count
        self.sample = sample
    }
}

/// The outcome of one login phase (a ramp-up, or a login-storm step), per shard, per process
/// and merged: the same type at every level so merging is one function.
public struct ConnectStats: Sendable, Codable {
    public var attempted = 0
    public var connected = 0
    public var failed = 0
    public var failures: [String: FailureCount] = [:]
    /// From the scheduled connect time to ready (bound, presence sent).
    public var latency = LatencyRecorder()
    /// How late connects started against their schedule (the generator's own lag).
    public var lag = LatencyRecorder()
    /// Earliest scheduled connect and latest ready, CLOCK_MONOTONIC ns.
    public var firstStartNs = UInt64.max
    public var lastReadyNs: UInt64 = 0

    public init() {}

    public mutating func record(_ failure: LoginFailure) {
        failed += 1
        failures[failure.reason, default: FailureCount(reason: failure.reason, count: 0, sample: failure.text)].count += 1
    }

    public mutating func merge(_ other: ConnectStats) {
        attempted += other.attempted
        connected += other.connected
        failed += other.failed
        for (reason, count) in other.failures {
            failures[reason, default: FailureCount(reason: reason, count: 0, sample: count.sample)].count += count.count
        }
        latency.add(other.latency)
        lag.add(other.lag)
        firstStartNs = min(firstStartNs, other.firstStartNs)
        lastReadyNs = max(lastReadyNs, other.lastReadyNs)
    }

    /// Devices that became ready per second, from the first scheduled connect to the last ready.
    public var loginsPerSecond: Double {
        guard connected > 0, lastReadyNs > firstStartNs else { return 0 }
        return Double(connected) / (Double(lastReadyNs - firstStartNs) / 1e9)
    }

    public var seconds: Double {
        lastReadyNs > firstStartNs && firstStartNs != .max ? Double(lastReadyNs - firstStartNs) / 1e9 : 0
    }

    /// Failure reasons, most frequent first.
    public var failureList: [FailureCount] {
        failures.values.sorted { ($0.count, $1.reason) > ($1.count, $0.reason) }
    }
}

/// One chat step as seen by a shard or a process (merged the same way).
public struct ChatShardStats: Sendable, Codable {
    public var sent = 0
    /// Scheduled sends skipped because the sending device was not connected.
    public var notSent = 0
    public var received = 0
    /// Time to delivery from the scheduled send time (includes generator lag: no coordinated
    /// omission).
    public var latency = LatencyRecorder()
    /// Time to delivery from the actual write.
    public var sendLatency = LatencyRecorder()
    /// How late sends went out against the schedule.
    public var lag = LatencyRecorder()
    public var duplicates = 0
    public var reordered = 0
    /// Sequence holes still open at the receivers when the step was collected (cumulative over
    /// the run: a hole stays open until the missing message arrives).
    public var openHoles = 0
    public var lateAfterCollect = 0
    public var messageErrors = 0

    public init() {}

    public mutating func merge(_ other: ChatShardStats) {
        sent += other.sent
        notSent += other.notSent
        received += other.received
        latency.add(other.latency)
        sendLatency.add(other.sendLatency)
        lag.add(other.lag)
        duplicates += other.duplicates
        reordered += other.reordered
        openHoles += other.openHoles
        lateAfterCollect += other.lateAfterCollect
        messageErrors += other.messageErrors
    }
}

/// Connected devices right now, and why others dropped since they logged in.
public struct ShardStatus: Sendable, Codable {
    public var connected = 0
    public var disconnects: [String: Int] = [:]
    public var messageErrors = 0
    /// Benchmark messages that arrived after their step had been collected (cumulative).
    public var lateMessages = 0

    public init(connected: Int = 0, disconnects: [String: Int] = [:], messageErrors: Int = 0, lateMessages: Int = 0) {
        self.connected = connected
        self.disconnects = disconnects
        self.messageErrors = messageErrors
        self.lateMessages = lateMessages
    }

    public mutating func merge(_ other: ShardStatus) {
        connected += other.connected
        disconnects.merge(other.disconnects, uniquingKeysWith: +)
        messageErrors += other.messageErrors
        lateMessages += other.lateMessages
        lateMessages += other.lateMessages
    }
}
