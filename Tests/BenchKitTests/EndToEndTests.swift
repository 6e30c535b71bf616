@testable import BenchKit
import Testing

/// The whole generator (engine, shards, device handlers, coordinator) against the built-in
/// loopback server, over real loopback sockets. Small and fast: a smoke test, not a benchmark.
@Suite("End to end against the loopback server", .serialized)
struct EndToEndTests {
    func run(_ configuration: (Int) -> BenchConfiguration, scenario: String, dropEvery: Int = 0,
             _ body: (Coordinator, inout BenchReport) async throws -> Void) async throws -> BenchReport {
        let server = try await LoopbackServer.start(domain: "loop.test", password: "pw", iterations: 4096, dropEvery: dropEvery)
        let configuration = configuration(server.port)
        let engine = try WorkerEngine(configuration: configuration, share: .whole)
        let coordinator = Coordinator(configuration: configuration, workers: [LocalWorkerLink(engine: engine)], targetPIDs: [getpidValue()]) { _ in }
        var report = BenchReport(
            scenario: scenario, startedAt: "now",
            configuration: ReportConfiguration(targets: [], domain: configuration.domain, userPrefix: "user", first: 1,
                                               devices: configuration.devices, mechanism: configuration.mechanism.rawValue, tls: false,
                                               sourceAddresses: configuration.sourceAddresses, processes: 1, threadsPerProcess: 2,
                                               connectRate: 0, targetPids: []),
            result: ResultSummary(stoppedBecause: "not run", completed: false))
        try await body(coordinator, &report)
        await coordinator.shutdown()
        try await server.shutdown()
        return report
    }

    @Test(arguments: [LoginMechanism.plain, .scramSHA256])
    func chatDeliversEveryMessage(_ mechanism: LoginMechanism) async throws {
        let report = try await run({ port in
            BenchConfiguration(targets: [Endpoint(host: "127.0.0.1", port: port)], domain: "loop.test", devices: 20,
                               mechanism: mechanism, sourceAddresses: 2, loginTimeout: 20, threads: 2, neighbours: 2, bodySize: 64)
        }, scenario: "chat") { coordinator, report in
            try await coordinator.runChat(connectRate: 400, parameters: .init(rates: [100, 200], stepSeconds: 0.5, drainSeconds: 3, p99BoundMs: 5_000),
                                          report: &report)
        }
        #expect(report.login?.connected == 20)
        #expect(report.login?.failed == 0)
        #expect(report.steps.count == 2)
        for step in report.steps {
            #expect(step.sent == Int(step.targetRate * 0.5))
            #expect(step.received == step.sent)
            #expect(step.missing == 0)
            #expect(step.sequenceHoles == 0)
            #expect(step.passed, "\(step.verdict)")
            #expect((step.latencyMs?.count ?? 0) == UInt64(step.sent ?? -1))
        }
        #expect(report.result.maxSustainedRate == 200)
        #expect(report.steps[0].usage.targets.first?.rssKib != nil)
    }

    @Test func lostMessagesFailTheStepAndStopStepping() async throws {
        let report = try await run({ port in
            BenchConfiguration(targets: [Endpoint(host: "127.0.0.1", port: port)], domain: "loop.test", devices: 10,
                               mechanism: .plain, loginTimeout: 20, threads: 1)
        }, scenario: "chat", dropEvery: 7) { coordinator, report in
            try await coordinator.runChat(connectRate: 200, parameters: .init(rates: [100, 200], stepSeconds: 1, drainSeconds: 0.5, p99BoundMs: 5_000),
                                          report: &report)
        }
        #expect(report.steps.count == 1)  // stepping stopped at the first lossy step
        let step = try #require(report.steps.first)
        #expect(step.sent == 100)
        // Every 7th routed message is dropped. (Every 10th would always hit the same sender of
        // the 10 and leave no hole, only a tail loss: why totals are compared as well.)
        #expect(step.missing == 14)
        #expect(step.received == 86)
        #expect((step.sequenceHoles ?? 0) >= 5)  // holes below each receiver's highest sequence
        #expect(!step.passed)
        #expect(step.verdict.contains("14 messages missing"))
        #expect(report.result.maxSustainedRate == nil)
    }

    @Test func wrongPasswordIsCountedWithItsReason() async throws {
        let report = try await run({ port in
            BenchConfiguration(targets: [Endpoint(host: "127.0.0.1", port: port)], domain: "loop.test", password: "nope", devices: 5,
                               mechanism: .plain, loginTimeout: 10, threads: 1)
        }, scenario: "idle") { coordinator, report in
            try await coordinator.runIdle(rate: 100, hold: 0.1, report: &report)
        }
        #expect(report.login?.connected == 0)
        #expect(report.login?.failed == 5)
        #expect(report.login?.failures.first?.reason == "sasl/not-authorized")
        #expect(report.login?.failures.first?.count == 5)
        #expect(report.result.completed == false)
    }

    @Test func refusedConnectionsAreCounted() async throws {
        let configuration = BenchConfiguration(targets: [Endpoint(host: "127.0.0.1", port: 1)], domain: "x", devices: 3,
                                               mechanism: .plain, loginTimeout: 5, threads: 1)
        let engine = try WorkerEngine(configuration: configuration, share: .whole)
        let reply = await engine.handle(.connect(startNs: MonotonicClock.now(), rate: 100))
        _ = await engine.handle(.shutdown)
        guard case .connected(let stats) = reply else { Issue.record("unexpected \(reply)"); return }
        #expect(stats.failed == 3)
        #expect(stats.failures["connect/connection-refused"]?.count == 3)
    }

    @Test func loginStormStepsAndReconnects() async throws {
        // A step passes when devices / (first scheduled connect … last ready) reaches 90 % of its
        // rate, so the last login's latency counts against it: with 10 devices at 100/s, 21 ms
        // of it (a debug build on a busy box) failed the step. 50 devices allow 65 ms.
        let report = try await run({ port in
            BenchConfiguration(targets: [Endpoint(host: "127.0.0.1", port: port)], domain: "loop.test", devices: 50,
                               mechanism: .scramSHA1, loginTimeout: 10, threads: 1)
        }, scenario: "login-storm") { coordinator, report in
            try await coordinator.runLoginStorm(rates: [50, 100], p99BoundMs: nil, pauseSeconds: 0.1, report: &report)
        }
        #expect(report.steps.count == 2)
        #expect(report.steps.allSatisfy { $0.login?.connected == 50 && $0.login?.failed == 0 })
    }
}
