import Foundation
import Logging

/// The engine behind `Journal`: a queue of appends, guarded by one condition lock, drained by one
/// dedicated writer thread that does group commit.
///
/// Why a lock and a thread rather than an actor: `fsync` is a blocking system call that takes
/// from ~0.1 ms (SSD) to several ms. Run on an actor it would block one of the few threads of
/// Swift's cooperative pool (one per core) for that long, and the actor would not accept the next
/// append until the fsync returned — so appenders would be serialised behind it, one fsync each.
/// Here an append only takes the lock, gets its sequence number, queues its record and suspends
/// on a continuation (microseconds, never blocking); the writer thread takes *everything* queued,
/// writes it with one `pwrite` and one `fsync`, then resumes all those continuations. Appends that
/// arrive during that fsync queue up and share the next one, so N concurrent appenders cost about
/// one fsync per fsync-duration instead of N.
///
/// Sequence numbers are assigned under the lock at enqueue time, in queue order, and the writer
/// writes the queue in order, so the file order is the sequence order.
final class GroupCommitWriter: @unchecked Sendable {
    // @unchecked: every mutable field below is either guarded by `condition` or owned by the
    // writer thread (noted per field); the class itself is shared by appenders and the thread.
    // Fields are internal (not private) only for the extensions in GroupCommitWriter+*.swift.

    struct PendingAppend {
        var kind: UInt8
        var sequence: UInt64
        var payload: [UInt8]
        var continuation: CheckedContinuation<UInt64, any Error>
        var encodedSize: Int { RecordFormat.encodedSize(payloadCount: payload.count) }
    }

    enum Lifecycle: Equatable {
        case open, closing
        /// Tests only: stop like a killed process (see `simulateCrash`).
        case crashed(partialBytes: Int)
    }

    let configuration: JournalConfiguration
    let logger: Logger
    let condition = NSCondition()
    /// Serialises snapshots with each other and with the writer's exit (see `run`).
    let snapshotLock = NSLock()

    // Guarded by `condition`:
    var pending: [PendingAppend] = []
    var pendingBytes = 0
    private var nextSequence: UInt64
    var durableSequence: UInt64
    var snapshotSequence: UInt64
    /// First sequences of the segments on disk, ascending; the last is the active one.
    var segments: [UInt64]
    var lifecycle = Lifecycle.open
    var writerExited = false
    private var exitWaiters: [CheckedContinuation<Void, Never>] = []
    private var failure: JournalError?
    var stats = JournalStatistics()

    // Owned by the writer thread (set up before it starts):
    var segmentFD: Int32
    var segmentPath: String
    var segmentSize: Int
    var buffer: [UInt8] = []
    // Closed by the writer thread when it exits:
    private let lockFD: Int32

    init(
        configuration: JournalConfiguration, logger: Logger, lockFD: Int32,
        segments: [UInt64], activeFD: Int32, activeSize: Int,
        nextSequence: UInt64, snapshotSequence: UInt64
    ) {
        self.configuration = configuration
        self.logger = logger
        self.lockFD = lockFD
        self.segments = segments
        self.segmentFD = activeFD
        self.segmentPath = POSIX.join(configuration.directory, FileNames.segment(firstSequence: segments.last!))
        self.segmentSize = activeSize
        self.nextSequence = nextSequence
        self.durableSequence = nextSequence - 1
        self.snapshotSequence = snapshotSequence
        stats.lastSequence = nextSequence - 1
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "mmgs-journal-writer"
        thread.start()
    }

    var statistics: JournalStatistics {
        condition.lock()
        defer { condition.unlock() }
        return stats
    }

    // MARK: Appending

    func append(kind: UInt8, payload: [UInt8]) async throws -> UInt64 {
        guard payload.count <= RecordFormat.maxPayloadBytes else {
            throw JournalError(
                code: .payloadTooLarge,
                reason: "payload of \(payload.count) bytes exceeds the journal's limit of \(RecordFormat.maxPayloadBytes) bytes",
                remedy: "split the state change into smaller records or store the bulk elsewhere")
        }
        // Not cancellable on purpose: once queued, the record will be written and will replay at
        // recovery, so the caller must learn its fate.
        return try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            if let failure {
                condition.unlock()
                continuation.resume(throwing: failure)
                return
            }
            guard lifecycle == .open else {
                condition.unlock()
                continuation.resume(throwing: JournalError(code: .closed, reason: "the journal is closed"))
                return
            }
            let sequence = nextSequence
            nextSequence += 1
            let entry = PendingAppend(kind: kind, sequence: sequence, payload: payload, continuation: continuation)
            pendingBytes += entry.encodedSize
            pending.append(entry)
            condition.signal()
            condition.unlock()
        }
    }

    // MARK: The writer thread

    private func run() {
        condition.lock()
        while true {
            while pending.isEmpty && lifecycle == .open { condition.wait() }
            if case .crashed(let partialBytes) = lifecycle {
                crash(partialBytes: partialBytes)
                break
            }
            if pending.isEmpty { break }  // closing, and everything queued is written
            if configuration.groupCommitWindow > .zero, lifecycle == .open {
                let deadline = Date(timeIntervalSinceNow: configuration.groupCommitWindow.timeInterval)
                while lifecycle == .open, pendingBytes < configuration.maxBatchBytes, condition.wait(until: deadline) {}
                if case .crashed(let partialBytes) = lifecycle {
                    crash(partialBytes: partialBytes)
                    break
                }
            }
            var count = 0
            var bytes = 0
            while count < pending.count,
                  count == 0 || bytes + pending[count].encodedSize <= configuration.maxBatchBytes {
                bytes += pending[count].encodedSize
                count += 1
            }
            let batch = Array(pending[..<count])
            pending.removeFirst(count)
            pendingBytes -= bytes
            condition.unlock()

            var fsyncs = 0
            var written = 0
            var outcome: JournalError?
            do {
                try write(batch, fsyncs: &fsyncs, written: &written)
            } catch {
                outcome = error
            }

            condition.lock()
            var failed: [PendingAppend] = []
            stats.fsyncs += fsyncs
            if let outcome {
                // What reached the disk is unknown (after a failed fsync the kernel may have
                // dropped the dirty pages), so stop: fail this batch, everything queued, and
                // every later append. Restarting recovers what is actually on disk — which may
                // include some of the failed records (an error means "not known durable").
                failure = JournalError(
                    code: outcome.code, file: outcome.file, offset: outcome.offset,
                    reason: outcome.reason, remedy: "the journal has stopped accepting appends; restart to recover")
                failed = batch + pending
                pending.removeAll()
                pendingBytes = 0
            } else {
                durableSequence = batch.last!.sequence
                stats.lastSequence = durableSequence
                stats.recordsAppended += batch.count
                stats.bytesAppended += written
                stats.batches += 1
                stats.largestBatch = max(stats.largestBatch, batch.count)
            }
            let failure = self.failure
            condition.unlock()
            if let failure {
                logger.error("journal write failed; refusing further appends", metadata: ["error": "\(failure)"])
                for entry in failed { entry.continuation.resume(throwing: failure) }
            } else {
                for entry in batch { entry.continuation.resume(returning: entry.sequence) }
            }
            condition.lock()
        }
        condition.unlock()

        // Wait for a snapshot in progress, then let go of the files; only then report exited, so
        // that `close()` returning means the directory can be opened again.
        snapshotLock.lock()
        POSIX.closeFile(segmentFD)
        POSIX.closeFile(lockFD)
        snapshotLock.unlock()

        condition.lock()
        writerExited = true
        let waiters = exitWaiters
        exitWaiters.removeAll()
        condition.broadcast()
        condition.unlock()
        for waiter in waiters { waiter.resume() }
    }

    /// Writes a batch: records are encoded into one buffer, written with one `pwrite` and made
    /// durable with one `fsync`; crossing into a new segment flushes and fsyncs the old one first,
    /// so only the last segment can ever hold a torn record.
    private func write(_ batch: [PendingAppend], fsyncs: inout Int, written: inout Int) throws(JournalError) {
        buffer.removeAll(keepingCapacity: true)
        for entry in batch {
            if segmentSize + buffer.count >= configuration.segmentBytes, segmentSize + buffer.count > 0 {
                try flush(fsyncs: &fsyncs, written: &written)
                try roll(firstSequence: entry.sequence)
            }
            RecordFormat.encode(kind: entry.kind, sequence: entry.sequence, payload: entry.payload, into: &buffer)
        }
        try flush(fsyncs: &fsyncs, written: &written)
        if buffer.capacity > 4 * configuration.maxBatchBytes { buffer = [] }  // after one huge record
    }

    private func flush(fsyncs: inout Int, written: inout Int) throws(JournalError) {
        guard !buffer.isEmpty else { return }
        try POSIX.pwriteAll(segmentFD, buffer, at: segmentSize, path: segmentPath)
        segmentSize += buffer.count
        written += buffer.count
        buffer.removeAll(keepingCapacity: true)
        if configuration.fsync {
            try POSIX.sync(segmentFD, path: segmentPath)
            fsyncs += 1
        }
    }

    private func roll(firstSequence: UInt64) throws(JournalError) {
        let name = FileNames.segment(firstSequence: firstSequence)
        let path = POSIX.join(configuration.directory, name)
        let fd = try POSIX.openFile(path, O_WRONLY | O_CREAT | O_EXCL)
        POSIX.closeFile(segmentFD)
        segmentFD = fd
        segmentPath = path
        segmentSize = 0
        if configuration.fsync { try POSIX.fsyncDirectory(configuration.directory) }
        condition.lock()
        segments.append(firstSequence)
        condition.unlock()
        logger.debug("journal started a new segment", metadata: ["segment": "\(name)"])
    }

    // MARK: Closing

    /// Stops accepting appends, lets the writer finish what is queued, and returns once it has
    /// exited and released the directory.
    func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            condition.lock()
            if writerExited {
                condition.unlock()
                continuation.resume()
                return
            }
            if lifecycle == .open { lifecycle = .closing }
            exitWaiters.append(continuation)
            condition.broadcast()
            condition.unlock()
        }
    }

    /// `close()` for `deinit`: blocks until the writer has exited. Quick: nothing can be queued
    /// (a pending append keeps the `Journal` alive), so the writer is idle.
    func closeBlocking() {
        condition.lock()
        if lifecycle == .open { lifecycle = .closing }
        condition.broadcast()
        while !writerExited { condition.wait() }
        condition.unlock()
    }
}

extension Duration {
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) * 1e-18
    }
}
