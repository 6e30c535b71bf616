import Foundation
import Logging

/// Durable state without a database: an append-only, segmented log of the caller's records, plus
/// snapshots that let old segments be deleted.
///
/// The router keeps its state (devices, rosters, offline queues) in memory and makes every change
/// durable by appending a record; at start it rebuilds the state from `Recovery.snapshot` plus
/// `Recovery.records`. Records carry consecutive sequence numbers so a replica can apply them in
/// order and notice a gap.
///
/// A final class with a lock and a dedicated writer thread rather than an actor, so that group
/// commit is real: see `GroupCommitWriter` for why.
///
/// Files in `configuration.directory` (see `FileNames`, `RecordFormat`, `SnapshotFormat`):
/// `journal-<first sequence>.log` segments, `snapshot-<sequence>.snap` snapshots, `journal.lock`.
public final class Journal: Sendable {
    public typealias Recovery = JournalRecovery
    public typealias Configuration = JournalConfiguration
    public typealias Statistics = JournalStatistics

    private let writer: GroupCommitWriter

    private init(writer: GroupCommitWriter) {
        self.writer = writer
    }

    deinit {
        writer.closeBlocking()
    }

    /// Opens (creating if needed) the journal in `configuration.directory` and recovers it: reads
    /// the newest snapshot and the segments after it, cuts off a torn tail of the last segment
    /// (`Recovery.truncatedTail`), and refuses with a `JournalError` naming file and offset when
    /// anything else is damaged (see `RecoveryScanner` for the rules). Blocking; call it at
    /// start-up, before serving. Appends continue the sequence after the last recovered record.
    public static func open(_ configuration: JournalConfiguration, logger: Logger) throws -> (Journal, Recovery) {
        try configuration.validate()
        let directory = configuration.directory
        try POSIX.makeDirectories(directory)
        let lockFD = try POSIX.lockFile(POSIX.join(directory, FileNames.lockFile))
        do {
            let (writer, recovery) = try recover(configuration, logger: logger, lockFD: lockFD)
            writer.start()
            return (Journal(writer: writer), recovery)
        } catch {
            POSIX.closeFile(lockFD)
            throw error
        }
    }

    /// Appends a record and returns its sequence number once it is durable: written, and fsynced
    /// when `configuration.fsync` is on. Concurrent appends share fsyncs (group commit). Throws
    /// `JournalError` for a payload above `RecordFormat.maxPayloadBytes` (16 MiB), after
    /// `close()`, or after a write failure (the journal then refuses all appends). Not
    /// cancellable: once queued the record is written.
    public func append(kind: UInt8, payload: [UInt8]) async throws -> UInt64 {
        try await writer.append(kind: kind, payload: payload)
    }

    /// Counters since `open`.
    public var statistics: JournalStatistics { writer.statistics }

    /// Durably stores `state`, the caller's state covering every record with sequence <=
    /// `sequence` (which must already be durable), then deletes the segments whose records are all
    /// covered (never the one being appended to) and older snapshots. The snapshot is written to a
    /// temporary file, fsynced, renamed and the directory fsynced before anything is deleted.
    /// Appends continue meanwhile; the I/O runs on a separate thread.
    public func snapshot(state: [UInt8], upTo sequence: UInt64) async throws {
        let writer = self.writer
        try await runOnThread(named: "mmgs-journal-snapshot") { () throws(JournalError) in
            try writer.writeSnapshot(state: state, upTo: sequence)
        }
    }

    /// Tests only: see `GroupCommitWriter.simulateCrash`.
    func simulateCrash(partialBytes: Int = 0) {
        writer.simulateCrash(partialBytes: partialBytes)
    }

    /// Waits for queued appends to become durable, then stops the writer and releases the
    /// directory. Later appends throw. Idempotent.
    public func close() async {
        await writer.close()
    }
}

/// Runs blocking work on a fresh thread, so it never occupies a thread of the cooperative pool.
func runOnThread<T: Sendable>(
    named name: String, _ body: @escaping @Sendable () throws(JournalError) -> T
) async throws(JournalError) -> T {
    let result: Result<T, JournalError> = await withCheckedContinuation { continuation in
        let thread = Thread {
            continuation.resume(returning: Result { () throws(JournalError) -> T in try body() })
        }
        thread.name = name
        thread.start()
    }
    return try result.get()
}
