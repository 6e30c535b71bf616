import NIOCore
import NIOEmbedded
import Testing
@testable import MMGSFrontEnd

/// A stream that is idle (read long ago) or busy (reads "in the future"), counting releases.
private final class FakeStream: IdleReleasable {
    let lastRead: NIODeadline
    private(set) var releases = 0
    init(idle: Bool) { lastRead = idle ? .uptimeNanoseconds(0) : .distantFuture }
    func releaseIdleState() { releases += 1 }
}

@Suite("C2SIdleSweeper: releases idle streams a slice at a time")
struct C2SIdleSweeperTests {
    /// idleAfter 2 s: a round every second, in 20 ticks of 50 ms.
    static let idleAfter = Duration.seconds(2)
    static let tick = TimeAmount.milliseconds(50)

    @Test func aRoundReleasesEveryIdleStreamOnceASliceAtATime() throws {
        let loop = EmbeddedEventLoop()
        let sweeper = C2SIdleSweeper(loop: loop, idleAfter: Self.idleAfter)
        let idle = (0..<1_000).map { _ in FakeStream(idle: true) }
        // 1,020 streams: twenty slices of 51 make exactly one round (with a remainder, the first
        // few streams of the next round come in the same period).
        let busy = (0..<20).map { _ in FakeStream(idle: false) }
        for stream in idle + busy { sweeper.add(stream) }
        #expect(sweeper.count == 1_020)

        let slice = (1_020 + C2SIdleSweeper.slicesPerPeriod - 1) / C2SIdleSweeper.slicesPerPeriod
        var released = 0
        for _ in 0..<C2SIdleSweeper.slicesPerPeriod {
            loop.advanceTime(by: Self.tick)
            let now = idle.reduce(0) { $0 + $1.releases }
            #expect(now - released <= slice, "one tick visits at most one slice")
            released = now
        }
        #expect(idle.allSatisfy { $0.releases == 1 }, "one round visits every stream once")
        #expect(busy.allSatisfy { $0.releases == 0 }, "a stream that read recently keeps its parser")

        for _ in 0..<C2SIdleSweeper.slicesPerPeriod { loop.advanceTime(by: Self.tick) }
        #expect(idle.allSatisfy { $0.releases == 2 }, "the next round visits them again")
        try loop.syncShutdownGracefully()
    }

    @Test func aRemovedStreamIsNotVisitedAndTheOthersStillAre() throws {
        let loop = EmbeddedEventLoop()
        let sweeper = C2SIdleSweeper(loop: loop, idleAfter: Self.idleAfter)
        let streams = (0..<400).map { _ in FakeStream(idle: true) }
        for stream in streams { sweeper.add(stream) }
        for _ in 0..<5 { loop.advanceTime(by: Self.tick) }

        // Remove every third stream mid-round: the last ones move into their places.
        let removed = stride(from: 0, to: streams.count, by: 3).map { streams[$0] }
        let releasesAtRemoval = removed.map(\.releases)
        for stream in removed { sweeper.remove(stream) }
        #expect(sweeper.count == streams.count - removed.count)

        // Two rounds: a stream moved behind the cursor waits at most one more round.
        for _ in 0..<(2 * C2SIdleSweeper.slicesPerPeriod) { loop.advanceTime(by: Self.tick) }
        #expect(removed.map(\.releases) == releasesAtRemoval, "a removed stream is not visited")
        let kept = streams.enumerated().filter { $0.offset % 3 != 0 }.map(\.element)
        #expect(kept.allSatisfy { $0.releases >= 1 })
        try loop.syncShutdownGracefully()
    }

    @Test func theRingHandsOutStreamsInTurnAndIgnoresRepeats() {
        var ring = SweepRing()
        let streams = (0..<5).map { _ in FakeStream(idle: true) }
        for stream in streams { ring.add(stream) }
        ring.add(streams[0])
        #expect(ring.count == 5, "adding a stream twice keeps one slot")
        ring.remove(FakeStream(idle: true))
        #expect(ring.count == 5, "removing an unknown stream changes nothing")

        let first = ring.next(3).map { ObjectIdentifier($0) }
        let second = ring.next(3).map { ObjectIdentifier($0) }
        #expect(first == streams[0..<3].map { ObjectIdentifier($0) })
        #expect(second == [3, 4, 0].map { ObjectIdentifier(streams[$0]) }, "wraps around")
        #expect(ring.next(9).count == 5, "each stream at most once per call")
        var empty = SweepRing()
        #expect(empty.next(4).isEmpty)
    }
}
