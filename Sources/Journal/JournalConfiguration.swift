/// How a `Journal` stores and commits.
public struct JournalConfiguration: Sendable {
    /// The directory holding segments, snapshots and the lock file; created if missing. One
    /// journal per directory (enforced with `flock`).
    public var directory: String
    /// A new segment is started once the current one reaches this size (default 64 MiB). Bounds
    /// the unit of compaction (a segment is deleted whole) and of recovery reads; a segment may
    /// exceed it by at most one record.
    public var segmentBytes: Int
    /// Whether an append waits for `fsync` (default true). Off: an append returns once the record
    /// is written to the kernel — it survives the process crashing, not the machine crashing.
    /// Snapshots are always fsynced because compaction deletes what they replace.
    public var fsync: Bool
    /// The most record bytes one group commit writes (default 1 MiB; a single larger record is
    /// still written alone). Bounds the memory and latency of a batch; appends beyond it wait
    /// for the next batch.
    public var maxBatchBytes: Int
    /// How long the writer waits, after the first append of a batch arrives, for more appends to
    /// share the batch's fsync (default `.zero`: write as soon as the previous fsync is done —
    /// appends that arrive during an fsync already share the next one, so a window only helps
    /// when appenders are few and fsync is cheap, at the cost of latency).
    public var groupCommitWindow: Duration

    public init(
        directory: String,
        segmentBytes: Int = 64 << 20,
        fsync: Bool = true,
        maxBatchBytes: Int = 1 << 20,
        groupCommitWindow: Duration = .zero
    ) {
        self.directory = directory
        self.segmentBytes = segmentBytes
        self.fsync = fsync
        self.maxBatchBytes = maxBatchBytes
        self.groupCommitWindow = groupCommitWindow
    }

    func validate() throws(JournalError) {
        guard !directory.isEmpty else { throw JournalError(code: .invalidArgument, reason: "journal directory is empty") }
        guard segmentBytes > 0 else { throw JournalError(code: .invalidArgument, reason: "segmentBytes must be positive, not \(segmentBytes)") }
        guard maxBatchBytes > 0 else { throw JournalError(code: .invalidArgument, reason: "maxBatchBytes must be positive, not \(maxBatchBytes)") }
        guard groupCommitWindow >= .zero else {
            throw JournalError(code: .invalidArgument, reason: "groupCommitWindow must not be negative, not \(groupCommitWindow)")
        }
    }
}

/// Counters since `Journal.open`, for metrics and tests.
public struct JournalStatistics: Sendable, Equatable {
    /// Records made durable (written, and fsynced when `fsync` is on).
    public var recordsAppended = 0
    /// Encoded record bytes written (headers included).
    public var bytesAppended = 0
    /// `fsync` calls on segment files (directory fsyncs not counted). With group commit this is
    /// far below `recordsAppended` under concurrency.
    public var fsyncs = 0
    /// Group commits: each writes a batch of queued appends with one write and (at most) one fsync
    /// (two when it crosses into a new segment).
    public var batches = 0
    /// The most records one batch carried.
    public var largestBatch = 0
    /// The sequence of the last durable record (0 if none).
    public var lastSequence: UInt64 = 0
    /// Snapshots written.
    public var snapshots = 0
    /// Segments deleted by compaction.
    public var segmentsDeleted = 0

    public init() {}
}

/// What `Journal.open` found: the state to rebuild from.
public struct JournalRecovery: Sendable {
    /// The newest snapshot, if any: the caller's state covering every record up to `sequence`.
    public var snapshot: (sequence: UInt64, state: [UInt8])?
    /// The records after the snapshot (all records without one), in sequence order.
    public var records: [JournalRecord]
    /// Set when the last segment ended in a torn write (a crash while a batch was being written):
    /// the file was cut to `offset`, dropping `bytes` bytes. Those records were never acknowledged.
    public var truncatedTail: (file: String, offset: Int, bytes: Int)?
    /// The sequence the next append will get.
    public var nextSequence: UInt64
}
