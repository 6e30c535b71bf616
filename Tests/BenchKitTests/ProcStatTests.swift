@testable import BenchKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("/proc parsing")
struct ProcStatTests {
    @Test func ownResidentMemoryAndCPU() throws {
        let pid = getpid()
        let rss = try #require(ProcStat.residentKiB(pid: pid))
        #expect(rss > 1_000)  // a Swift test process is well above 1 MiB
        let cpu = try #require(ProcStat.cpuSeconds(pid: pid))
        #expect(cpu >= 0)
        var sampler = CPUSampler(pid: pid)
        var spin = 0.0
        let end = MonotonicClock.now() + 50_000_000
        while MonotonicClock.now() < end { spin += 1 }
        let measured = sampler.sample()
        let sample = try #require(measured)
        #expect(sample.cores >= 0 && sample.cores < 64)
        #expect(spin > 0)
    }

    @Test func goneProcessIsNil() {
        #expect(ProcStat.residentKiB(pid: Int32.max) == nil)
        #expect(ProcStat.cpuSeconds(pid: Int32.max) == nil)
    }

    @Test func parsesStatusWithTabs() {
        let status = "Name:\tmmgs-frontend\nVmPeak:\t  999 kB\nVmRSS:\t   37632 kB\nRssAnon:\t 1 kB\n"
        #expect(ProcStat.parseVmRSS(status) == 37_632)
        #expect(ProcStat.parseVmRSS("Name: x\n") == nil)
    }

    @Test func parsesStatWithAnAwkwardCommandName() {
        // comm may contain spaces and parentheses; fields are counted from the last ')'.
        let stat = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 4 0 12345 1000000 900 18446744073709551615"
        #expect(ProcStat.parseCPUTicks(stat) == 325)
        #expect(ProcStat.parseCPUTicks("garbage") == nil)
    }
}
