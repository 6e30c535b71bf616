import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `mmgs-bench`: the XMPP load generator. Works against any XMPP server (MMGS, ejabberd,
/// Prosody): it only speaks RFC 6120/6121 c2s.
public struct BenchCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mmgs-bench",
        abstract: "XMPP load generator: idle connections, one-to-one chat, login storms.",
        subcommands: [Idle.self, Chat.self, LoginStorm.self, Serve.self])

    public init() {}

    struct Idle: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Log N devices in and hold them; report drops and server RSS per device.")
        @OptionGroup var common: CommonOptions
        @Option(help: "Seconds to hold the devices after the ramp.") var hold = 30.0

        func run() async throws {
            try await BenchRunner.run(common: common, scenario: "idle") { coordinator, report in
                report.configuration.holdSeconds = hold
                try await coordinator.runIdle(rate: common.rate, hold: hold, report: &report)
            }
        }
    }

    struct Chat: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One-to-one chat between neighbours at stepped aggregate rates (open loop); report the max sustained rate.")
        @OptionGroup var common: CommonOptions
        @OptionGroup var steps: RateOptions
        @Option(help: "Seconds per step.") var stepSeconds = 10.0
        @Option(help: "Seconds to wait for outstanding deliveries after each step.") var drainSeconds = 5.0
        @Option(help: "Stop stepping when p99 time to delivery exceeds this.") var p99BoundMs = 1000.0
        @Option(help: "Each device sends to its next K devices in turn.") var neighbours = 1
        @Option(help: "Minimum body size in bytes (padded).") var bodySize = 0
        @Option(help: "Seconds of unmeasured chat at the first rate before the steps (0: none).") var warmupSeconds = 0.0

        func validate() throws {
            guard stepSeconds > 0, drainSeconds >= 0, neighbours >= 1, bodySize >= 0 else {
                throw ValidationError("--step-seconds must be positive, --neighbours at least 1")
            }
            guard warmupSeconds >= 0, warmupSeconds <= 600 else { throw ValidationError("--warmup-seconds must be between 0 and 600") }
            guard neighbours < common.devices else { throw ValidationError("--neighbours must be below --devices") }
        }

        func run() async throws {
            let parameters = Coordinator.ChatParameters(rates: steps.list, stepSeconds: stepSeconds, drainSeconds: drainSeconds, p99BoundMs: p99BoundMs,
                                                        warmupSeconds: warmupSeconds)
            try await BenchRunner.run(common: common, scenario: "chat", neighbours: neighbours, bodySize: bodySize) { coordinator, report in
                report.configuration.neighbours = neighbours
                report.configuration.bodySize = bodySize
                report.configuration.stepSeconds = stepSeconds
                report.configuration.drainSeconds = drainSeconds
                report.configuration.p99BoundMs = p99BoundMs
                report.configuration.warmupSeconds = warmupSeconds
                try await coordinator.runChat(connectRate: common.rate, parameters: parameters, report: &report)
            }
        }
    }

    struct LoginStorm: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "login-storm",
            abstract: "Log all devices in as fast as each step's rate allows, log them out, step up; report logins/s and latency.")
        @OptionGroup var common: CommonOptions
        @OptionGroup var steps: RateOptions
        @Option(help: "Also fail a step whose p99 login latency exceeds this.") var p99BoundMs: Double?
        @Option(help: "Seconds between steps (lets the server finish closing sessions).") var pauseSeconds = 2.0

        func run() async throws {
            try await BenchRunner.run(common: common, scenario: "login-storm") { coordinator, report in
                report.configuration.p99BoundMs = p99BoundMs
                try await coordinator.runLoginStorm(rates: steps.list, p99BoundMs: p99BoundMs, pauseSeconds: pauseSeconds, report: &report)
            }
        }
    }
}

extension BenchCommand {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the built-in loopback XMPP server (any user, one password; routes messages) to calibrate the generator.")
        @Option var host = "127.0.0.1"
        @Option(help: "Port (0: any free one).") var port = 5222
        @Option var domain = "localhost"
        @Option var password = "pw"
        @Option(help: "SCRAM iteration count of the server's credentials.") var iterations = 4096
        @Option var threads = 1

        func run() async throws {
            let server = try await LoopbackServer.start(host: host, port: port, domain: domain, password: password,
                                                        iterations: iterations, threads: threads)
            print("listening \(server.port)")
            fflush(nil)
            while true { try await Task.sleep(nanoseconds: 3_600_000_000_000) }
        }
    }
}

/// What every scenario does around its own steps: become a worker if asked to, otherwise start
/// the engine or the worker processes, run, shut down, print and write the report.
enum BenchRunner {
    static func run(
        common: CommonOptions, scenario: String, neighbours: Int = 1, bodySize: Int = 0,
        _ body: @Sendable (Coordinator, inout BenchReport) async throws -> Void
    ) async throws {
        signal(SIGPIPE, SIG_IGN)
        raiseOpenFilesLimit()
        let configuration = common.configuration(neighbours: neighbours, bodySize: bodySize)
        if let argument = common.worker, let share = WorkerShare(argument: argument) {
            try await WorkerServer.run(engine: try WorkerEngine(configuration: configuration, share: share))
            return
        }
        var workers: [any WorkerLink] = []
        if common.processes > 1 {
            let executable = ProcessWorkerLink.currentExecutable()
            let arguments = Array(CommandLine.arguments.dropFirst())
            for index in 0..<common.processes {
                let share = WorkerShare(index: index, count: common.processes)
                workers.append(try ProcessWorkerLink(executable: executable, arguments: arguments + ["--worker", share.argument]))
            }
        } else {
            workers.append(LocalWorkerLink(engine: try WorkerEngine(configuration: configuration, share: .whole)))
        }
        let coordinator = Coordinator(configuration: configuration, workers: workers, targetPIDs: common.pids) { line in
            print(line)
            fflush(nil)
        }
        var report = BenchReport(
            scenario: scenario, startedAt: ISO8601DateFormatter().string(from: Date()),
            configuration: ReportConfiguration(
                targets: configuration.targets.map(\.description), domain: configuration.domain, userPrefix: configuration.userPrefix,
                first: configuration.first, devices: configuration.devices, mechanism: configuration.mechanism.rawValue,
                tls: configuration.startTLS, sourceAddresses: configuration.sourceAddresses, processes: common.processes,
                threadsPerProcess: configuration.threads > 0 ? configuration.threads : ProcessInfo.processInfo.activeProcessorCount,
                connectRate: common.rate, targetPids: common.pids),
            result: ResultSummary(stoppedBecause: "not run", completed: false))
        report.configuration.scramKeyCache = configuration.cacheSCRAMKeys
        print("mmgs-bench \(scenario): \(configuration.devices) devices \(configuration.username(0))…\(configuration.username(configuration.devices - 1))@\(configuration.domain) "
              + "→ \(configuration.targets.map(\.description).joined(separator: ", ")), \(configuration.mechanism.rawValue)\(configuration.startTLS ? " + STARTTLS" : ""), "
              + "\(common.processes) process(es)")
        fflush(nil)
        do {
            try await body(coordinator, &report)
        } catch {
            report.result = ResultSummary(stoppedBecause: "generator error: \(error)", completed: false)
        }
        await coordinator.shutdown()
        print(HumanSummary.result(report))
        if let path = common.json {
            let data = try JSONLines.reportEncoder().encode(report)
            try data.write(to: URL(fileURLWithPath: path))
            print("report: \(path)")
        }
        if !report.result.completed { throw ExitCode(2) }
    }

    /// Uses the hard open-files limit, not the soft one: every device is a socket.
    static func raiseOpenFilesLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
