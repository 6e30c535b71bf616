/// The three scenarios, as sequences of coordinator commands. Each returns the full report;
/// failures of devices are in the report, never thrown (only a broken worker throws).
extension Coordinator {
    // MARK: idle

    /// Logs every device in at `rate`, holds them for `hold` seconds, and reports how many are
    /// still connected and what the targets' memory grew by, per device.
    public func runIdle(rate: Double, hold: Double, report: inout BenchReport) async throws {
        var sampler = makeSampler()
        let before = targetPIDs.map { ProcStat.residentKiB(pid: $0) }
        sampler.begin()
        let stats = try await connect(rate: rate)
        let login = Self.phaseSummary(stats, targetRate: rate, usage: sampler.end())
        report.login = login
        log(HumanSummary.login(login))
        guard stats.connected > 0 else {
            report.result = ResultSummary(stoppedBecause: "no device logged in", completed: false)
            return
        }
        log("holding \(stats.connected) devices for \(hold) s")
        try await Task.sleep(nanoseconds: UInt64(hold * 1e9))
        let status = try await status()
        let usage = sampler.end()
        let memory = targetPIDs.enumerated().map { index, pid in
            let now = usage.targets.first { $0.pid == pid }?.rssKib
            let connected = Double(max(status.connected, 1))
            return TargetMemory(
                pid: pid, rssKibBefore: before[index], rssKib: now,
                rssPerDeviceKib: now.map { (Double($0) / connected * 100).rounded() / 100 },
                rssGrowthPerDeviceKib: now.flatMap { now in before[index].map { (Double(Int64(now) - Int64($0)) / connected * 100).rounded() / 100 } })
        }
        var total: TargetMemory?
        if !memory.isEmpty, memory.allSatisfy({ $0.rssKib != nil && $0.rssKibBefore != nil }) {
            let now = memory.reduce(0) { $0 + $1.rssKib! }
            let before = memory.reduce(0) { $0 + $1.rssKibBefore! }
            let connected = Double(max(status.connected, 1))
            total = TargetMemory(pid: 0, rssKibBefore: before, rssKib: now,
                                 rssPerDeviceKib: (Double(now) / connected * 100).rounded() / 100,
                                 rssGrowthPerDeviceKib: (Double(Int64(now) - Int64(before)) / connected * 100).rounded() / 100)
        }
        let idle = IdleSummary(holdSeconds: hold, connectedAtEnd: status.connected, dropped: status.disconnects, targets: memory,
                               total: total, usage: usage)
        report.idle = idle
        log(HumanSummary.idle(idle))
        let dropped = status.disconnects.values.reduce(0, +)
        report.result = ResultSummary(
            maxSustainedRate: nil,
            stoppedBecause: dropped == 0 && stats.failed == 0 ? "held all devices" : "\(stats.failed) failed logins, \(dropped) dropped during the hold",
            completed: true)
    }

    // MARK: chat

    public struct ChatParameters: Sendable {
        public var rates: [Double]
        public var stepSeconds: Double
        public var drainSeconds: Double
        public var p99BoundMs: Double
        /// Seconds of chat at the first rate before the first step, not measured: every step
        /// then measures the steady state (servers set up per-pair state on first contact).
        public var warmupSeconds: Double

        public init(rates: [Double], stepSeconds: Double, drainSeconds: Double, p99BoundMs: Double, warmupSeconds: Double = 0) {
            self.rates = rates
            self.stepSeconds = stepSeconds
            self.drainSeconds = drainSeconds
            self.p99BoundMs = p99BoundMs
            self.warmupSeconds = warmupSeconds
        }
    }

    /// Logs every device in, then runs one open-loop chat step per rate until a step loses
    /// messages or exceeds the p99 bound.
    public func runChat(connectRate: Double, parameters: ChatParameters, report: inout BenchReport) async throws {
        var sampler = makeSampler()
        sampler.begin()
        let stats = try await connect(rate: connectRate)
        let login = Self.phaseSummary(stats, targetRate: connectRate, usage: sampler.end())
        report.login = login
        log(HumanSummary.login(login))
        guard stats.connected > 0 else {
            report.result = ResultSummary(stoppedBecause: "no device logged in", completed: false)
            return
        }
        if parameters.warmupSeconds > 0, let first = parameters.rates.first {
            // Its own step number (after the real ones), collected and dropped.
            var warmup = parameters
            warmup.stepSeconds = parameters.warmupSeconds
            let step = try await chatStep(index: parameters.rates.count, rate: first, parameters: warmup)
            log("warm-up: \(HumanSummary.number(first)) msgs/s for \(parameters.warmupSeconds) s, \(step.received) of \(step.sent) delivered (not measured)")
        }
        var best: Double?
        var stopped = "all steps passed"
        for (index, rate) in parameters.rates.enumerated() {
            sampler.begin()
            let step = try await chatStep(index: index, rate: rate, parameters: parameters)
            let status = try await status()
            let summary = chatSummary(index: index, rate: rate, seconds: parameters.stepSeconds, step: step,
                                      disconnected: status.disconnects, usage: sampler.end(), boundMs: parameters.p99BoundMs)
            report.steps.append(summary)
            log(HumanSummary.chatStep(summary))
            if !summary.passed {
                stopped = "step \(index + 1) at \(HumanSummary.number(rate)) msgs/s: \(summary.verdict)"
                if (summary.missing ?? 0) > 0 {
                    // Late or lost? Watch for one more drain period.
                    try await Task.sleep(nanoseconds: UInt64(max(parameters.drainSeconds, 1) * 1e9))
                    let late = try await self.status().lateMessages - status.lateMessages
                    report.steps[report.steps.count - 1].arrivedAfterDrain = late
                    log("  \(late) of the \(summary.missing ?? 0) missing messages arrived during one more drain period")
                }
                break
            }
            best = rate
        }
        report.result = ResultSummary(maxSustainedRate: best, stoppedBecause: stopped, completed: true)
    }

    /// One step: every process sends its share on the same schedule, then the coordinator waits
    /// until every sent message has arrived or the drain period is over, then collects.
    func chatStep(index: Int, rate: Double, parameters: ChatParameters) async throws -> ChatShardStats {
        let start = startTime()
        var sent = 0
        for reply in try await broadcast({ _ in .chatStep(step: index, startNs: start, rate: rate, seconds: parameters.stepSeconds) }) {
            guard case .sent(let count, _) = reply else { throw WorkerProtocolError("unexpected reply \(reply)") }
            sent += count
        }
        let deadline = MonotonicClock.now() + UInt64(parameters.drainSeconds * 1e9)
        while MonotonicClock.now() < deadline {
            var received = 0
            for reply in try await broadcast({ _ in .progress(step: index) }) {
                if case .progress(let count) = reply { received += count }
            }
            if received >= sent { break }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        var merged = ChatShardStats()
        for reply in try await broadcast({ _ in .collect(step: index) }) {
            guard case .collected(let stats) = reply else { throw WorkerProtocolError("unexpected reply \(reply)") }
            merged.merge(stats)
        }
        return merged
    }

    func chatSummary(index: Int, rate: Double, seconds: Double, step: ChatShardStats, disconnected: [String: Int],
                     usage: Usage, boundMs: Double) -> StepSummary {
        let latency = step.latency.summary
        let missing = max(0, step.sent - step.received)
        var (passed, verdict) = ChatVerdict.evaluate(sent: step.sent, received: step.received, openHoles: step.openHoles,
                                                     p99Ms: latency.p99, boundMs: boundMs)
        if step.notSent > 0 {
            passed = false
            verdict = (verdict == "ok" ? "" : verdict + "; ") + "\(step.notSent) sends skipped (sender offline)"
        }
        return StepSummary(
            index: index + 1, targetRate: rate, seconds: seconds, sent: step.sent, notSent: step.notSent, received: step.received,
            missing: missing, sequenceHoles: step.openHoles, duplicates: step.duplicates, reordered: step.reordered,
            messageErrors: step.messageErrors, achievedRate: (Double(step.sent) / seconds).rounded(),
            latencyMs: latency, latencyFromSendMs: step.sendLatency.summary, sendLagMs: step.lag.summary,
            disconnected: disconnected.isEmpty ? nil : disconnected, login: nil, usage: usage, passed: passed, verdict: verdict)
    }

    // MARK: login-storm

    /// Logs every device in at each rate in turn (logging them out between steps), until a step
    /// has failures or falls short of its rate.
    public func runLoginStorm(rates: [Double], p99BoundMs: Double?, pauseSeconds: Double, report: inout BenchReport) async throws {
        var sampler = makeSampler()
        var best: Double?
        var stopped = "all steps passed"
        for (index, rate) in rates.enumerated() {
            sampler.begin()
            let stats = try await connect(rate: rate)
            let usage = sampler.end()
            let phase = Self.phaseSummary(stats, targetRate: rate, usage: usage)
            let (passed, verdict) = LoginVerdict.evaluate(targetRate: rate, achieved: phase.loginsPerSecond, failed: stats.failed,
                                                          attempted: stats.attempted, p99Ms: phase.loginLatencyMs.p99, boundMs: p99BoundMs)
            let summary = StepSummary(index: index + 1, targetRate: rate, seconds: phase.seconds, login: phase, usage: usage,
                                      passed: passed, verdict: verdict)
            report.steps.append(summary)
            log(HumanSummary.loginStep(summary))
            try await disconnect()
            if !passed {
                stopped = "step \(index + 1) at \(HumanSummary.number(rate)) logins/s: \(verdict)"
                break
            }
            best = max(best ?? 0, phase.loginsPerSecond)
            if index + 1 < rates.count { try await Task.sleep(nanoseconds: UInt64(pauseSeconds * 1e9)) }
        }
        report.result = ResultSummary(maxSustainedRate: best, stoppedBecause: stopped, completed: true)
    }
}
