/// Samples the generator processes and the target processes over one phase: CPU as the change
/// in utime+stime over wall time, RSS at the end.
public struct ResourceSampler: Sendable {
    public let generatorPIDs: [Int32]
    public let targetPIDs: [Int32]
    private var generators: [CPUSampler]
    private var targets: [CPUSampler]
    private var startNs: UInt64

    public init(generatorPIDs: [Int32], targetPIDs: [Int32]) {
        self.generatorPIDs = generatorPIDs
        self.targetPIDs = targetPIDs
        generators = generatorPIDs.map(CPUSampler.init)
        targets = targetPIDs.map(CPUSampler.init)
        startNs = MonotonicClock.now()
    }

    /// Starts a new phase.
    public mutating func begin() {
        for index in generators.indices { _ = generators[index].sample() }
        for index in targets.indices { _ = targets[index].sample() }
        startNs = MonotonicClock.now()
    }

    /// Ends the phase begun by the last ``begin()`` (or ``end()``), and begins the next one.
    public mutating func end() -> Usage {
        func percent(_ sampler: inout CPUSampler) -> Double? {
            sampler.sample().map { ($0.cores * 1000).rounded() / 10 }
        }
        var generatorUsage: [ProcessUsage] = []
        for index in generators.indices {
            generatorUsage.append(ProcessUsage(pid: generators[index].pid, cpuPercent: percent(&generators[index]),
                                               rssKib: ProcStat.residentKiB(pid: generators[index].pid)))
        }
        var targetUsage: [ProcessUsage] = []
        for index in targets.indices {
            targetUsage.append(ProcessUsage(pid: targets[index].pid, cpuPercent: percent(&targets[index]),
                                            rssKib: ProcStat.residentKiB(pid: targets[index].pid)))
        }
        let now = MonotonicClock.now()
        defer { startNs = now }
        let total = generatorUsage.reduce(0.0) { $0 + ($1.cpuPercent ?? 0) }
        return Usage(generatorCPUPercent: (total * 10).rounded() / 10, generatorProcesses: generatorUsage,
                     targets: targetUsage, wallSeconds: (Double(now - startNs) / 1e6).rounded() / 1000)
    }
}
