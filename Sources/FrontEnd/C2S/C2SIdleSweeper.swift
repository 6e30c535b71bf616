import ETunnel
import NIOCore
import NIOPosix
import Synchronization

/// Shrinks idle device streams. Most devices are silent most of the time, and an idle stream's
/// biggest cost is its expat parser (about 10 KiB of buffers and tables): every `period`, each
/// event loop's sweeper releases the parser of the streams on that loop that have read nothing
/// for `idleAfter`. The parser comes back on the next read (see `XMLStreamParser.hibernate`).
///
/// One sweeper per event loop, touched only on that loop, so a sweep takes no lock and a
/// connection costs one dictionary entry rather than a timer of its own.
final class C2SIdleSweeper: Sendable {
    let loop: any EventLoop
    let idleAfter: Duration
    private let streams: NIOLoopBoundBox<[ObjectIdentifier: C2SHandler]>

    init(loop: any EventLoop, idleAfter: Duration) {
        self.loop = loop
        self.idleAfter = idleAfter
        self.streams = NIOLoopBoundBox.makeBoxSendingValue([:], eventLoop: loop)
        let period = TimeAmount.nanoseconds(max(idleAfter.nanoseconds / 2, 1_000_000))
        loop.scheduleRepeatedTask(initialDelay: period, delay: period) { [self] _ in sweep() }
    }

    func add(_ handler: C2SHandler) { streams.value[ObjectIdentifier(handler)] = handler }

    func remove(_ handler: C2SHandler) { streams.value.removeValue(forKey: ObjectIdentifier(handler)) }

    private func sweep() {
        let threshold = NIODeadline.now() - .nanoseconds(idleAfter.nanoseconds)
        for handler in streams.value.values where handler.lastRead < threshold {
            handler.releaseIdleState()
        }
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
