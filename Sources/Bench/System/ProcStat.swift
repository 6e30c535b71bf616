#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a process's resident memory and CPU time from Linux's /proc, so every step reports
/// what the generator and the server processes cost: a saturated generator must never be
/// mistaken for a slow server.
public enum ProcStat {
    /// VmRSS from /proc/PID/status, in KiB; nil if the process is gone (or not Linux).
    public static func residentKiB(pid: Int32) -> UInt64? {
        guard let text = readFile("/proc/\(pid)/status") else { return nil }
        return parseVmRSS(text)
    }

    /// utime + stime from /proc/PID/stat, in seconds.
    public static func cpuSeconds(pid: Int32) -> Double? {
        guard let text = readFile("/proc/\(pid)/stat"), let ticks = parseCPUTicks(text) else { return nil }
        return Double(ticks) / Double(clockTicksPerSecond)
    }

    public static var clockTicksPerSecond: Int {
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        return ticks > 0 ? ticks : 100
    }

    /// The `VmRSS:   1234 kB` line of /proc/PID/status.
    public static func parseVmRSS(_ status: String) -> UInt64? {
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let fields = line.dropFirst("VmRSS:".count).split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let value = fields.first.flatMap({ UInt64($0) }) else { return nil }
            let unit = fields.dropFirst().first?.lowercased() ?? "kb"
            switch unit {
            case "mb": return value * 1024
            case "gb": return value * 1024 * 1024
            default: return value
            }
        }
        return nil
    }

    /// utime (field 14) + stime (field 15) of /proc/PID/stat, in clock ticks. The command name
    /// (field 2) is in parentheses and may itself contain spaces and parentheses, so fields are
    /// counted from the last `)`.
    public static func parseCPUTicks(_ stat: String) -> UInt64? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(whereSeparator: { $0 == " " || $0 == "\n" })
        // fields[0] is field 3 (state); utime is field 14 → index 11, stime → index 12.
        guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return nil }
        return user + system
    }

    /// The whole of a small file (procfs files report size 0, so read until EOF).
    static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4096) }
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// CPU used by a process between two samples, as a fraction of one core (1.5 = 150 %).
public struct CPUSampler: Sendable {
    public let pid: Int32
    private var lastCPU: Double?
    private var lastWallNs: UInt64

    public init(pid: Int32) {
        self.pid = pid
        self.lastCPU = ProcStat.cpuSeconds(pid: pid)
        self.lastWallNs = MonotonicClock.now()
    }

    /// Cores used since the previous call (or since creation), nil if unreadable.
    public mutating func sample() -> (cores: Double, cpuSeconds: Double)? {
        let now = MonotonicClock.now()
        let cpu = ProcStat.cpuSeconds(pid: pid)
        defer { lastCPU = cpu; lastWallNs = now }
        guard let cpu, let lastCPU, now > lastWallNs else { return nil }
        let delta = cpu - lastCPU
        return (delta / (Double(now - lastWallNs) / 1e9), delta)
    }
}
