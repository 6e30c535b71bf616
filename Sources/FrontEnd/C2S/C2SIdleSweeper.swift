import NIOCore
import Synchronization

/// A stream the idle sweeper can shrink.
protocol IdleReleasable: AnyObject {
    /// When the stream last read anything.
    var lastRead: NIODeadline { get }
    /// Gives back what an idle stream need not hold (its parser); a no-op when it is busy.
    func releaseIdleState()
}

/// Shrinks idle device streams. Most devices are silent most of the time, and an idle stream's
/// biggest cost is its expat parser (about 10 KiB of buffers and tables): each event loop's
/// sweeper visits every stream on that loop once per `period` (half of `idleAfter`) and releases
/// the parser of those that have read nothing for `idleAfter`. The parser comes back on the next
/// read (see `XMLStreamParser.hibernate`).
///
/// A round is spread over `slicesPerPeriod` ticks, each visiting the next slice of the streams,
/// so that no tick holds the event loop for long: releasing the parsers of 2,500 streams in one
/// go took about 6 ms, which every message arriving meanwhile waited for.
///
/// One sweeper per event loop, touched only on that loop, so a sweep takes no lock and a
/// connection costs one slot in an array rather than a timer of its own.
final class C2SIdleSweeper: Sendable {
    static let slicesPerPeriod = 20
    let loop: any EventLoop
    let idleAfter: Duration
    private let ring: NIOLoopBoundBox<SweepRing>

    init(loop: any EventLoop, idleAfter: Duration) {
        self.loop = loop
        self.idleAfter = idleAfter
        self.ring = NIOLoopBoundBox.makeBoxSendingValue(SweepRing(), eventLoop: loop)
        let period = max(idleAfter.nanoseconds / 2, 1_000_000)
        let tick = TimeAmount.nanoseconds(max(period / Int64(Self.slicesPerPeriod), 1_000_000))
        loop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { [self] _ in sweepSlice() }
    }

    func add(_ stream: any IdleReleasable) { ring.value.add(stream) }

    func remove(_ stream: any IdleReleasable) { ring.value.remove(stream) }

    /// Streams this sweeper watches.
    var count: Int { ring.value.count }

    private func sweepSlice() {
        let threshold = NIODeadline.now() - .nanoseconds(idleAfter.nanoseconds)
        let slice = (ring.value.count + Self.slicesPerPeriod - 1) / Self.slicesPerPeriod
        for stream in ring.value.next(slice) where stream.lastRead < threshold {
            stream.releaseIdleState()
        }
    }
}

/// The streams of one sweeper in an array with a cursor: O(1) to add and remove (the last one
/// takes the removed one's place), and each call to `next` hands out the following streams in
/// turn. A stream moved behind the cursor by a removal waits one more round.
struct SweepRing {
    private var streams: [any IdleReleasable] = []
    private var positions: [ObjectIdentifier: Int] = [:]
    private var cursor = 0

    var count: Int { streams.count }

    mutating func add(_ stream: any IdleReleasable) {
        let id = ObjectIdentifier(stream)
        guard positions[id] == nil else { return }
        positions[id] = streams.count
        streams.append(stream)
    }

    mutating func remove(_ stream: any IdleReleasable) {
        guard let index = positions.removeValue(forKey: ObjectIdentifier(stream)) else { return }
        let last = streams.removeLast()
        if index < streams.count {
            streams[index] = last
            positions[ObjectIdentifier(last)] = index
        }
    }

    /// The next `count` streams after the cursor, wrapping around; each at most once per call.
    mutating func next(_ count: Int) -> [any IdleReleasable] {
        let take = min(count, streams.count)
        var out: [any IdleReleasable] = []
        out.reserveCapacity(take)
        for _ in 0..<take {
            if cursor >= streams.count { cursor = 0 }
            out.append(streams[cursor])
            cursor += 1
        }
        return out
    }
}

/// The sweepers of all event loops of a front-end, found by the loop a connection runs on.
final class C2SIdleSweepers: Sendable {
    private let sweepers: Mutex<[ObjectIdentifier: C2SIdleSweeper]> = Mutex([:])
    let idleAfter: Duration

    init(idleAfter: Duration) { self.idleAfter = idleAfter }

    func sweeper(for loop: any EventLoop) -> C2SIdleSweeper {
        sweepers.withLock { all in
            if let sweeper = all[ObjectIdentifier(loop)] { return sweeper }
            let sweeper = C2SIdleSweeper(loop: loop, idleAfter: idleAfter)
            all[ObjectIdentifier(loop)] = sweeper
            return sweeper
        }
    }
}
