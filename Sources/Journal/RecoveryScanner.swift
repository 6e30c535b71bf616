/// Recovery decisions, pure: given the bytes of the segments in order, which records are valid,
/// whether the last segment ends in a torn write to cut off, and what is corruption to refuse.
/// The file-handling driver (`Journal.open`) only reads files and carries out the decisions.
///
/// The rules, and why:
/// - A torn tail is expected after a crash: a batch was being written when the machine stopped,
///   so the last segment can end inside a record, or its last bytes can be garbage or zeros
///   (the file grew but the data never reached the disk). None of those records were
///   acknowledged (an append returns only after its fsync), so cutting them off loses nothing
///   that was promised. This applies only to the LAST segment, and only when no valid record
///   follows the damage.
/// - Anything else is refused: damage in a segment that is not the last, damage followed by a
///   valid record (that record was probably acknowledged, and dropping it and everything after
///   would silently lose promised data), a gap or repeat in sequence numbers, or a missing
///   segment. The journal cannot know which copy of the truth is right, so an operator decides;
///   the error names the file and the byte offset.
struct RecoveryScanner {
    /// What one segment held.
    struct SegmentResult: Equatable {
        /// Records with sequence above the snapshot's, in order.
        var records: [JournalRecord]
        /// The last valid record's sequence, nil if the segment holds none.
        var lastSequence: UInt64?
        /// Bytes of valid records from the start of the file.
        var validBytes: Int
        /// Set when the segment ends in a torn write: cut the file to `offset` (== validBytes),
        /// dropping `bytes` bytes.
        var tornTail: TornTail?
    }

    struct TornTail: Equatable {
        var offset: Int
        var bytes: Int
        var reason: String
    }

    /// The snapshot's sequence (0 without a snapshot): records up to it are verified but not
    /// returned.
    let snapshotSequence: UInt64
    /// The sequence the next segment must start with (nil before the first segment).
    private(set) var expectedNext: UInt64?

    init(snapshotSequence: UInt64) {
        self.snapshotSequence = snapshotSequence
    }

    /// Which segments (by first sequence, sorted) a snapshot made obsolete — every record in them
    /// is covered by the snapshot, because the next segment starts at or before
    /// `snapshotSequence + 1` — and which remain. A crash between writing a snapshot and deleting
    /// the segments it covers leaves such files; they are deleted without being read. Also checks
    /// that the remaining segments start early enough: without a snapshot the first must start at
    /// sequence 1, with one at or before `snapshotSequence + 1`.
    static func plan(segments: [UInt64], snapshotSequence: UInt64) throws(JournalError) -> (obsolete: [UInt64], live: [UInt64]) {
        var obsolete: [UInt64] = []
        var index = 0
        while index + 1 < segments.count, snapshotSequence > 0, segments[index + 1] <= snapshotSequence + 1 {
            obsolete.append(segments[index])
            index += 1
        }
        let live = Array(segments[index...])
        if let first = live.first, first > snapshotSequence + 1 {
            let name = FileNames.segment(firstSequence: first)
            let cover = snapshotSequence == 0
                ? "there is no snapshot" : "the newest snapshot covers only up to \(snapshotSequence)"
            throw JournalError.corruptSegment(
                name, offset: 0,
                "the oldest segment starts at sequence \(first) but \(cover): records \(snapshotSequence + 1)...\(first - 1) are missing")
        }
        return (obsolete, live)
    }

    /// Scans one segment; segments must be given in order, the last with `isLast`.
    mutating func scan(
        _ bytes: UnsafeRawBufferPointer, file: String, firstSequence: UInt64, isLast: Bool
    ) throws(JournalError) -> SegmentResult {
        if let expectedNext, firstSequence != expectedNext {
            let what = firstSequence > expectedNext
                ? "records \(expectedNext)...\(firstSequence - 1) are missing"
                : "it overlaps the previous segment"
            throw JournalError.corruptSegment(
                file, offset: 0,
                "segment starts at sequence \(firstSequence) but the previous segment ended at \(expectedNext - 1): \(what)")
        }
        var result = SegmentResult(records: [], lastSequence: nil, validBytes: 0, tornTail: nil)
        var offset = 0
        var expected = firstSequence
        scanning: while offset < bytes.count {
            let damage: String
            switch RecordFormat.decode(bytes, at: offset) {
            case .record(let record, let size):
                guard record.sequence == expected else {
                    let reason: String
                    if offset == 0 {
                        reason = "first record has sequence \(record.sequence) but the file name says \(firstSequence)"
                    } else if record.sequence < expected {
                        reason = "sequence \(record.sequence) repeats (expected \(expected))"
                    } else {
                        reason = "sequence gap: found \(record.sequence), expected \(expected) (records \(expected)...\(record.sequence - 1) missing)"
                    }
                    throw JournalError.corruptSegment(file, offset: offset, reason)
                }
                if record.sequence > snapshotSequence { result.records.append(record) }
                result.lastSequence = record.sequence
                expected += 1
                offset += size
                result.validBytes = offset
                continue scanning
            case .needMore:
                let left = bytes.count - offset
                if left < 4 {
                    damage = "incomplete record: only \(left) bytes of the length field"
                } else {
                    let length = Int(bytes.loadLittleEndianUInt32(at: offset))
                    damage = "incomplete record: length \(length) needs \(RecordFormat.prefixBytes + length) bytes, the file has \(left)"
                }
            case .corrupt(let reason):
                damage = reason
            }
            guard isLast else {
                throw JournalError.corruptSegment(file, offset: offset, damage + " in a segment that is not the last")
            }
            if let (following, sequence) = Self.validRecord(in: bytes, after: offset, expected: expected) {
                throw JournalError.corruptSegment(
                    file, offset: offset,
                    damage + " followed by a valid record (sequence \(sequence) at offset \(following)), so this is not a torn write")
            }
            result.tornTail = TornTail(offset: offset, bytes: bytes.count - offset, reason: damage)
            break scanning
        }
        if !isLast, result.lastSequence == nil {
            throw JournalError.corruptSegment(file, offset: 0, "empty segment that is not the last")
        }
        expectedNext = expected
        return result
    }

    /// The first valid record starting after `offset` whose sequence could follow `expected`
    /// (one at most every `headerBytes` bytes), if any.
    static func validRecord(in bytes: UnsafeRawBufferPointer, after offset: Int, expected: UInt64) -> (offset: Int, sequence: UInt64)? {
        guard offset + 1 < bytes.count else { return nil }
        let window = expected...(expected + UInt64((bytes.count - offset) / RecordFormat.headerBytes) + 1)
        for candidate in (offset + 1)..<bytes.count
        where RecordFormat.isValidRecord(bytes, at: candidate, sequences: window) {
            return (candidate, bytes.loadLittleEndianUInt64(at: candidate + 9))
        }
        return nil
    }
}
