/// The `--json` output. One shape for every scenario: `login` is the ramp-up (idle, chat),
/// `idle` the hold, `steps` the chat or login-storm steps, `result` the verdict. Every step and
/// phase carries the generator's own CPU and the targets' RSS and CPU, so a saturated generator
/// is never mistaken for a slow server.
public struct BenchReport: Sendable, Codable {
    public var tool = "mmgs-bench"
    public var formatVersion = 1
    public var scenario: String
    /// Wall-clock start, ISO 8601 UTC.
    public var startedAt: String
    public var configuration: ReportConfiguration
    public var login: PhaseSummary?
    public var idle: IdleSummary?
    public var steps: [StepSummary] = []
    public var result: ResultSummary

    public init(scenario: String, startedAt: String, configuration: ReportConfiguration, result: ResultSummary) {
        self.scenario = scenario
        self.startedAt = startedAt
        self.configuration = configuration
        self.result = result
    }
}

public struct ReportConfiguration: Sendable, Codable {
    public var targets: [String]
    public var domain: String
    public var userPrefix: String
    public var first: Int
    public var devices: Int
    public var mechanism: String
    public var tls: Bool
    public var sourceAddresses: Int
    public var processes: Int
    public var threadsPerProcess: Int
    /// Login ramp rate, devices/s.
    public var connectRate: Double
    public var targetPids: [Int32]
    public var neighbours: Int?
    public var bodySize: Int?
    public var stepSeconds: Double?
    public var drainSeconds: Double?
    public var p99BoundMs: Double?
    /// Unmeasured chat before the first step (seconds at the first rate).
    public var warmupSeconds: Double?
    public var holdSeconds: Double?
    /// Whether SCRAM key derivations were reused per salt (false: every login derived).
    public var scramKeyCache: Bool?
}

/// CPU and memory of the processes involved, over one phase or step.
public struct Usage: Sendable, Codable {
    /// Total over the generator processes; 100 = one core busy.
    public var generatorCPUPercent: Double
    public var generatorProcesses: [ProcessUsage]
    public var targets: [ProcessUsage]
    public var wallSeconds: Double

    public init(generatorCPUPercent: Double, generatorProcesses: [ProcessUsage], targets: [ProcessUsage], wallSeconds: Double) {
        self.generatorCPUPercent = generatorCPUPercent
        self.generatorProcesses = generatorProcesses
        self.targets = targets
        self.wallSeconds = wallSeconds
    }
}

public struct ProcessUsage: Sendable, Codable {
    public var pid: Int32
    /// Over the phase; nil when /proc could not be read (process gone).
    public var cpuPercent: Double?
    /// VmRSS at the end of the phase, KiB.
    public var rssKib: UInt64?

    public init(pid: Int32, cpuPercent: Double?, rssKib: UInt64?) {
        self.pid = pid
        self.cpuPercent = cpuPercent
        self.rssKib = rssKib
    }
}

/// A login phase: the ramp-up of idle and chat, or one login-storm step.
public struct PhaseSummary: Sendable, Codable {
    public var targetRate: Double
    public var attempted: Int
    public var connected: Int
    public var failed: Int
    /// By `stage/condition`, most frequent first, with a sample server text.
    public var failures: [FailureCount]
    public var seconds: Double
    public var loginsPerSecond: Double
    /// From scheduled connect to bound-and-present.
    public var loginLatencyMs: LatencySummary
    /// How late the generator started connects against the schedule.
    public var scheduleLagMs: LatencySummary
    public var usage: Usage
}

public struct IdleSummary: Sendable, Codable {
    public var holdSeconds: Double
    public var connectedAtEnd: Int
    /// Devices that were ready and dropped during the hold, by reason.
    public var dropped: [String: Int]
    /// Per target process; its per-device figures divide by all connected devices, even when
    /// the process served only some of them (several front-ends): use `total` for the cluster.
    public var targets: [TargetMemory]
    /// All target processes together (pid 0): what the whole server spends per device.
    public var total: TargetMemory?
    public var usage: Usage
}

/// A target's memory before the ramp and at the end of the hold.
public struct TargetMemory: Sendable, Codable {
    public var pid: Int32
    public var rssKibBefore: UInt64?
    public var rssKib: UInt64?
    /// rss / connected devices.
    public var rssPerDeviceKib: Double?
    /// (rss − rss before) / connected devices: what one more device costs.
    public var rssGrowthPerDeviceKib: Double?
}

/// One chat or login-storm step.
public struct StepSummary: Sendable, Codable {
    public var index: Int
    /// Messages/s (chat) or logins/s (login-storm) asked for.
    public var targetRate: Double
    public var seconds: Double
    // Chat.
    public var sent: Int?
    public var notSent: Int?
    public var received: Int?
    /// Sent but not received after the drain.
    public var missing: Int?
    /// Per-sender sequence holes open at the receivers (cumulative).
    public var sequenceHoles: Int?
    public var duplicates: Int?
    public var reordered: Int?
    public var messageErrors: Int?
    /// Messages sent per second.
    public var achievedRate: Double?
    /// Time to delivery from the scheduled send time.
    public var latencyMs: LatencySummary?
    /// Time to delivery from the actual write.
    public var latencyFromSendMs: LatencySummary?
    /// Generator lag behind the schedule.
    public var sendLagMs: LatencySummary?
    public var disconnected: [String: Int]?
    /// For a step that ended with messages missing: how many of them turned up during one more
    /// drain period (late, not lost). The rest never arrived while the generator watched.
    public var arrivedAfterDrain: Int?
    // Login storm.
    public var login: PhaseSummary?
    public var usage: Usage
    public var passed: Bool
    /// Why it did not pass, or "ok".
    public var verdict: String
}

public struct ResultSummary: Sendable, Codable {
    /// Highest step rate that passed (msgs/s for chat; for login-storm the achieved logins/s).
    public var maxSustainedRate: Double?
    public var stoppedBecause: String
    /// False when the run could not do what was asked (no device logged in, a worker died).
    public var completed: Bool

    public init(maxSustainedRate: Double? = nil, stoppedBecause: String, completed: Bool) {
        self.maxSustainedRate = maxSustainedRate
        self.stoppedBecause = stoppedBecause
        self.completed = completed
    }
}
