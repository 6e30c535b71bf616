@testable import BenchKit
import Testing

@Suite("Open-loop schedule")
struct OpenLoopScheduleTests {
    @Test func operationKIsDueAtStartPlusKOverRate() {
        let schedule = OpenLoopSchedule(startNs: 1_000, rate: 1000, count: 10)
        #expect(schedule.time(of: 0) == 1_000)
        #expect(schedule.time(of: 1) == 1_001_000)
        #expect(schedule.time(of: 9) == 9_001_000)
        #expect(schedule.endNs == 9_001_000)
        #expect(OpenLoopSchedule(startNs: 0, rate: 3, count: 4).time(of: 1) == 333_333_333)
    }

    @Test func handsOutEverythingDueWhateverHappenedBefore() {
        var schedule = OpenLoopSchedule(startNs: 0, rate: 1000, count: 100)
        // Nothing is ever "completed": the schedule does not care.
        #expect(schedule.due(at: 0) == 0..<1)
        #expect(schedule.due(at: 500_000) == 1..<1)
        #expect(schedule.due(at: 2_500_000) == 1..<3)
        #expect(schedule.nextDueNs == 3_000_000)
        // A generator that wakes 50 ms late gets all 50 missed operations at once…
        #expect(schedule.due(at: 52_000_000) == 3..<53)
        // …and never more than the schedule holds.
        #expect(schedule.due(at: 10_000_000_000) == 53..<100)
        #expect(schedule.isFinished)
        #expect(schedule.nextDueNs == nil)
        #expect(schedule.due(at: 20_000_000_000).isEmpty)
    }

    @Test func lagIsMeasuredAgainstTheScheduledTime() {
        let schedule = OpenLoopSchedule(startNs: 10_000, rate: 100, count: 10)
        #expect(schedule.lagNs(of: 2, at: schedule.time(of: 2)) == 0)
        #expect(schedule.lagNs(of: 2, at: schedule.time(of: 2) + 7_000_000) == 7_000_000)
        #expect(schedule.lagNs(of: 2, at: 0) == 0)  // early is not negative lag
    }

    @Test func lagAccountingOverALateWakeUp() {
        var schedule = OpenLoopSchedule(startNs: 0, rate: 1000, count: 20)
        var lag = LatencyRecorder()
        let wake: UInt64 = 9_500_000  // operations 0…9 are due by now; 0 is 9.5 ms late
        for k in schedule.due(at: wake) { lag.record(nanoseconds: schedule.lagNs(of: k, at: wake)) }
        #expect(lag.count == 10)
        #expect(lag.summary.max >= 9.49 && lag.summary.max <= 9.51)
        #expect(lag.summary.p50 >= 4.4 && lag.summary.p50 <= 4.6)
    }

    @Test func beforeTheStartNothingIsDue() {
        var schedule = OpenLoopSchedule(startNs: 5_000_000, rate: 10, count: 3)
        #expect(schedule.due(at: 1_000).isEmpty)
        #expect(schedule.nextDueNs == 5_000_000)
    }

    @Test func operationsForATimedStep() {
        #expect(OpenLoopSchedule.operations(rate: 200, seconds: 2) == 400)
        #expect(OpenLoopSchedule.operations(rate: 333.3, seconds: 3) == 999)
    }

    @Test func boundariesAreExactForAwkwardRates() {
        var schedule = OpenLoopSchedule(startNs: 123, rate: 7, count: 1_000)
        var handed = 0
        var now: UInt64 = 0
        while !schedule.isFinished {
            now += 13_000_000
            for k in schedule.due(at: now) {
                #expect(schedule.time(of: k) <= now)
                #expect(k == handed)
                handed += 1
            }
            if let next = schedule.nextDueNs { #expect(next > now) }
        }
        #expect(handed == 1_000)
    }
}
