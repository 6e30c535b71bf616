@testable import BenchKit
import Foundation
import Testing

@Suite("Report and protocol JSON")
struct ReportJSONTests {
    func sampleReport() -> BenchReport {
        var latency = LatencyRecorder()
        for value in [1_000_000, 2_000_000, 40_000_000] as [UInt64] { latency.record(nanoseconds: value) }
        let usage = Usage(generatorCPUPercent: 12.5, generatorProcesses: [ProcessUsage(pid: 10, cpuPercent: 12.5, rssKib: 30_000)],
                          targets: [ProcessUsage(pid: 20, cpuPercent: 80, rssKib: 50_000)], wallSeconds: 2)
        var connect = ConnectStats()
        connect.attempted = 3
        connect.connected = 2
        connect.record(LoginFailure(.sasl, "not-authorized", text: "wrong password"))
        var report = BenchReport(
            scenario: "chat", startedAt: "2025-01-01T00:00:00Z",
            configuration: ReportConfiguration(targets: ["127.0.0.1:5222"], domain: "d", userPrefix: "user", first: 1, devices: 3,
                                               mechanism: "PLAIN", tls: false, sourceAddresses: 2, processes: 1, threadsPerProcess: 2,
                                               connectRate: 100, targetPids: [20]),
            result: ResultSummary(maxSustainedRate: 200, stoppedBecause: "all steps passed", completed: true))
        report.login = Coordinator.phaseSummary(connect, targetRate: 100, usage: usage)
        report.steps = [StepSummary(index: 1, targetRate: 200, seconds: 2, sent: 400, notSent: 0, received: 400, missing: 0, sequenceHoles: 0,
                                    duplicates: 0, reordered: 0, messageErrors: 0, achievedRate: 200, latencyMs: latency.summary,
                                    latencyFromSendMs: latency.summary, sendLagMs: LatencySummary(), login: nil, usage: usage,
                                    passed: true, verdict: "ok")]
        return report
    }

    @Test func reportShape() throws {
        let data = try JSONLines.reportEncoder().encode(sampleReport())
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(json["tool"] as? String == "mmgs-bench")
        #expect(json["scenario"] as? String == "chat")
        let result = try #require(json["result"] as? [String: Any])
        #expect(result["max_sustained_rate"] as? Double == 200)
        let login = try #require(json["login"] as? [String: Any])
        #expect(login["connected"] as? Int == 2)
        let failures = try #require(login["failures"] as? [[String: Any]])
        #expect(failures.first?["reason"] as? String == "sasl/not-authorized")
        #expect(failures.first?["sample"] as? String == "wrong password")
        let steps = try #require(json["steps"] as? [[String: Any]])
        let step = try #require(steps.first)
        for key in ["sent", "received", "missing", "sequence_holes", "latency_ms", "latency_from_send_ms", "send_lag_ms", "usage", "passed", "verdict"] {
            #expect(step[key] != nil, "step lacks \(key)")
        }
        let latency = try #require(step["latency_ms"] as? [String: Any])
        for key in ["p50", "p99", "p999", "max", "count"] { #expect(latency[key] != nil, "latency lacks \(key)") }
        #expect((latency["max"] as? Double ?? 0) >= 39.9)
        let usage = try #require(step["usage"] as? [String: Any])
        #expect(usage["generator_cpu_percent"] as? Double == 12.5)
        let target = try #require((usage["targets"] as? [[String: Any]])?.first)
        #expect(target["rss_kib"] as? Int == 50_000)
        #expect(target["cpu_percent"] as? Double == 80)
        let configuration = try #require(json["configuration"] as? [String: Any])
        #expect(configuration["source_addresses"] as? Int == 2)
    }

    @Test func workerMessagesRoundTrip() throws {
        let commands: [WorkerCommand] = [.connect(startNs: 5, rate: 100), .chatStep(step: 2, startNs: 9, rate: 50, seconds: 3), .progress(step: 1), .shutdown]
        for command in commands {
            #expect(try JSONLines.decode(WorkerCommand.self, from: JSONLines.encode(command)) == command)
        }
        var stats = ConnectStats()
        stats.record(LoginFailure(.connect, "connection-refused", text: "x"))
        stats.latency.record(nanoseconds: 5_000_000)
        let decoded = try JSONLines.decode(WorkerReply.self, from: JSONLines.encode(WorkerReply.connected(stats)))
        guard case .connected(let back) = decoded else { Issue.record("wrong reply"); return }
        #expect(back.failures["connect/connection-refused"]?.count == 1)
        #expect(back.latency.count == 1)
    }

    @Test func histogramsMergeExactlyOverTheWire() throws {
        var a = LatencyRecorder()
        var b = LatencyRecorder()
        for index in 0..<1000 { a.record(nanoseconds: UInt64(index) * 10_000) }
        for index in 0..<500 { b.record(nanoseconds: 50_000_000 + UInt64(index) * 1_000) }
        var direct = a
        direct.add(b)
        var merged = try JSONLines.decode(LatencyRecorder.self, from: JSONLines.encode(a))
        merged.add(try JSONLines.decode(LatencyRecorder.self, from: JSONLines.encode(b)))
        #expect(merged.count == 1500)
        #expect(merged.summary == direct.summary)
    }

    @Test func stepPlansAndVerdicts() {
        #expect(StepPlan.parseList("1000, 2000,5000") == [1000, 2000, 5000])
        #expect(StepPlan.parseList("1000,x") == nil)
        #expect(StepPlan.series(start: 1000, step: 1000, max: 3500) == [1000, 2000, 3000])
        #expect(ChatVerdict.evaluate(sent: 100, received: 100, openHoles: 0, p99Ms: 5, boundMs: 10).passed)
        #expect(ChatVerdict.evaluate(sent: 100, received: 99, openHoles: 0, p99Ms: 5, boundMs: 10).verdict == "1 messages missing")
        #expect(!ChatVerdict.evaluate(sent: 100, received: 100, openHoles: 0, p99Ms: 11, boundMs: 10).passed)
        #expect(!LoginVerdict.evaluate(targetRate: 100, achieved: 80, failed: 0, attempted: 10, p99Ms: 1, boundMs: nil).passed)
        #expect(LoginVerdict.evaluate(targetRate: 100, achieved: 95, failed: 0, attempted: 10, p99Ms: 1, boundMs: nil).passed)
    }

    @Test func workerSharesPartitionTheDevices() throws {
        var seen: [Int] = []
        for index in 0..<3 { seen += WorkerShare(index: index, count: 3).devices(of: 10) }
        #expect(seen == Array(0..<10))
        #expect(WorkerShare(argument: "2/3") == WorkerShare(index: 1, count: 3))
        #expect(WorkerShare(argument: "0/3") == nil)
        let configuration = BenchConfiguration(targets: [Endpoint("127.0.0.1:5222")!, Endpoint("127.0.0.1:5223")!], domain: "d",
                                               devices: 5, sourceAddresses: 2, neighbours: 2)
        #expect(configuration.username(0) == "user1")
        #expect(configuration.receiver(of: 4, turn: 0) == 0)
        #expect(configuration.receiver(of: 4, turn: 1) == 1)
        #expect(configuration.target(for: 1).port == 5223)
        #expect((0..<4).map { configuration.sourceAddress(for: $0)! } == ["127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2"])
    }
}
