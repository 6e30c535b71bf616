/// One-line summaries of each phase for the terminal; the JSON has everything.
public enum HumanSummary {
    public static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String((value * 10).rounded() / 10)
    }

    static func ms(_ value: Double) -> String { String((value * 100).rounded() / 100) }

    static func percentiles(_ summary: LatencySummary) -> String {
        "p50 \(ms(summary.p50)) p99 \(ms(summary.p99)) p99.9 \(ms(summary.p999)) max \(ms(summary.max)) ms"
    }

    static func usage(_ usage: Usage) -> String {
        var text = "generator cpu \(number(usage.generatorCPUPercent))%"
        for target in usage.targets {
            let rss = target.rssKib.map { "\(number((Double($0) / 1024 * 10).rounded() / 10)) MiB" } ?? "gone"
            text += ", pid \(target.pid) cpu \(target.cpuPercent.map { number($0) + "%" } ?? "?") rss \(rss)"
        }
        return text
    }

    static func failures(_ failures: [FailureCount]) -> String {
        failures.prefix(5).map { failure in
            "\(failure.count) × \(failure.reason)" + (failure.sample.map { " (\($0.prefix(120)))" } ?? "")
        }.joined(separator: "; ")
    }

    public static func login(_ phase: PhaseSummary) -> String {
        var text = "login: \(phase.connected)/\(phase.attempted) connected, \(phase.failed) failed in \(phase.seconds) s "
            + "(\(number(phase.loginsPerSecond)) logins/s; asked \(number(phase.targetRate))/s); latency \(percentiles(phase.loginLatencyMs)); "
            + "schedule lag p99 \(ms(phase.scheduleLagMs.p99)) ms; \(usage(phase.usage))"
        if !phase.failures.isEmpty { text += "\n  failures: " + failures(phase.failures) }
        return text
    }

    public static func idle(_ idle: IdleSummary) -> String {
        var text = "idle: \(idle.connectedAtEnd) connected after \(number(idle.holdSeconds)) s"
        if !idle.dropped.isEmpty { text += ", dropped: " + idle.dropped.map { "\($0.value) × \($0.key)" }.joined(separator: ", ") }
        for target in idle.targets {
            text += "\n  pid \(target.pid): rss \(target.rssKib.map { "\($0) KiB" } ?? "?") (before \(target.rssKibBefore.map { "\($0) KiB" } ?? "?")), "
                + "\(target.rssPerDeviceKib.map(number) ?? "?") KiB/device, growth \(target.rssGrowthPerDeviceKib.map(number) ?? "?") KiB/device"
        }
        if let total = idle.total {
            text += "\n  all targets: rss \(total.rssKib ?? 0) KiB (before \(total.rssKibBefore ?? 0) KiB), "
                + "\(total.rssPerDeviceKib.map(number) ?? "?") KiB/device, growth \(total.rssGrowthPerDeviceKib.map(number) ?? "?") KiB/device"
        }
        return text + "\n  " + usage(idle.usage)
    }

    public static func chatStep(_ step: StepSummary) -> String {
        "step \(step.index): \(number(step.targetRate)) msgs/s for \(number(step.seconds)) s: sent \(step.sent ?? 0), received \(step.received ?? 0), "
            + "missing \(step.missing ?? 0), holes \(step.sequenceHoles ?? 0); latency \(step.latencyMs.map(percentiles) ?? "-"); "
            + "send lag p99 \(ms(step.sendLagMs?.p99 ?? 0)) ms; \(usage(step.usage)) → \(step.passed ? "PASS" : "FAIL: " + step.verdict)"
    }

    public static func loginStep(_ step: StepSummary) -> String {
        guard let login = step.login else { return "step \(step.index)" }
        var text = "step \(step.index): \(number(step.targetRate)) logins/s asked: \(login.connected)/\(login.attempted) in \(login.seconds) s "
            + "= \(number(login.loginsPerSecond)) logins/s, \(login.failed) failed; latency \(percentiles(login.loginLatencyMs)); "
            + "\(usage(step.usage)) → \(step.passed ? "PASS" : "FAIL: " + step.verdict)"
        if !login.failures.isEmpty { text += "\n  failures: " + failures(login.failures) }
        return text
    }

    public static func result(_ report: BenchReport) -> String {
        let unit = report.scenario == "chat" ? "msgs/s" : "logins/s"
        let best = report.result.maxSustainedRate.map { "max sustained \(number($0)) \(unit); " } ?? ""
        return "result: \(best)\(report.result.stoppedBecause)"
    }
}
