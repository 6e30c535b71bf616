import ArgumentParser

/// Options every scenario shares: who the devices are, where they connect, how they log in,
/// and how the generator is laid out over processes.
struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("target"), help: "HOST:PORT of a c2s endpoint; repeat for several (devices are spread round-robin). Default 127.0.0.1:5222.")
    var targets: [String] = []
    @Option(help: "The XMPP domain of the devices.") var domain = "localhost"
    @Option(help: "Number of devices (user<first> … user<first+devices-1>).") var devices = 100
    @Option(help: "Login ramp rate, connections/s (login-storm: unused, see --rates).") var rate = 500.0
    @Option(help: "Local part prefix of the device JIDs.") var userPrefix = "user"
    @Option(help: "Password of every device.") var password = "pw"
    @Option(help: "Number of the first device.") var first = 1
    @Option(help: "SASL mechanism: PLAIN, SCRAM-SHA-1 or SCRAM-SHA-256.") var mechanism = "SCRAM-SHA-256"
    @Flag(help: "STARTTLS before authenticating (certificates are not verified).") var tls = false
    @Option(help: "Resource to bind; empty lets the server choose.") var resource = "bench"
    @Option(help: "Bind client sockets to 127.0.0.1 … 127.0.0.K (0: let the kernel choose); each address has its own ~28K ephemeral ports.")
    var sourceAddresses = 0
    @Option(help: "Comma-separated PIDs of the server processes whose RSS and CPU to report.") var targetPids: String?
    @Option(help: "Write the full report as JSON to this file.") var json: String?
    @Option(help: "Generator processes; each handles devices/processes devices (stays under the per-process open-files cap).")
    var processes = 1
    @Option(help: "Event loops per generator process (0: one per core).") var threads = 0
    @Option(help: "Seconds a device may take from connect to ready before it counts as failed.") var loginTimeout = 30.0
    @Option(help: "Lowest SCRAM iteration count accepted from the server.") var minIterations = 4096
    @Flag(help: "Derive SCRAM keys on every login like a real device (default: reuse them per salt, so the generator's CPU goes to the server).")
    var noScramCache = false
    @Option(help: .hidden) var worker: String?

    func validate() throws {
        guard devices >= 1 else { throw ValidationError("--devices must be at least 1") }
        guard rate > 0 else { throw ValidationError("--rate must be positive") }
        guard LoginMechanism(argument: mechanism) != nil else { throw ValidationError("--mechanism must be PLAIN, SCRAM-SHA-1 or SCRAM-SHA-256") }
        guard processes >= 1, processes <= devices else { throw ValidationError("--processes must be between 1 and --devices") }
        guard (0...254).contains(sourceAddresses) else { throw ValidationError("--source-addresses must be 0…254") }
        for target in targets where Endpoint(target) == nil { throw ValidationError("--target must be HOST:PORT, got '\(target)'") }
        if let worker, WorkerShare(argument: worker) == nil { throw ValidationError("--worker must be i/P") }
        if let targetPids, parsedPIDs(targetPids) == nil { throw ValidationError("--target-pids must be comma-separated PIDs") }
    }

    func parsedPIDs(_ text: String) -> [Int32]? {
        let values = text.split(separator: ",").map { Int32($0.filter { $0 != " " }) }
        return values.allSatisfy({ $0 != nil }) ? values.map { $0! } : nil
    }

    var pids: [Int32] { targetPids.flatMap(parsedPIDs) ?? [] }

    func configuration(neighbours: Int = 1, bodySize: Int = 0) -> BenchConfiguration {
        var configuration = BenchConfiguration(
            targets: targets.isEmpty ? [Endpoint(host: "127.0.0.1", port: 5222)] : targets.compactMap(Endpoint.init),
            domain: domain, userPrefix: userPrefix, password: password, first: first, devices: devices,
            mechanism: LoginMechanism(argument: mechanism) ?? .scramSHA256, startTLS: tls,
            resource: resource.isEmpty ? nil : resource, sourceAddresses: sourceAddresses, loginTimeout: loginTimeout,
            threads: threads, neighbours: neighbours, bodySize: bodySize, minimumIterations: minIterations)
        configuration.cacheSCRAMKeys = !noScramCache
        return configuration
    }
}

/// `--rates 1000,2000,5000` or `--start-rate 1000 --step 1000 --max-rate 10000`.
struct RateOptions: ParsableArguments {
    @Option(help: "Comma-separated step rates.") var rates: String?
    @Option(help: "First step rate (with --step and --max-rate).") var startRate: Double?
    @Option(help: "Rate increment between steps.") var step: Double?
    @Option(help: "Last step rate.") var maxRate: Double?

    func validate() throws {
        if let rates, StepPlan.parseList(rates) == nil { throw ValidationError("--rates must be comma-separated positive numbers") }
        if rates == nil && startRate == nil { throw ValidationError("give --rates, or --start-rate [--step --max-rate]") }
    }

    var list: [Double] {
        if let rates, let list = StepPlan.parseList(rates) { return list }
        guard let startRate else { return [] }
        return StepPlan.series(start: startRate, step: step ?? 0, max: maxRate ?? startRate)
    }
}
