import Testing
@testable import Journal

/// The pure recovery decisions, on byte arrays.
@Suite struct RecoveryScannerTests {
    private func segment(_ sequences: ClosedRange<UInt64>, size: Int = 30) -> [UInt8] {
        var bytes: [UInt8] = []
        for sequence in sequences {
            RecordFormat.encode(kind: 1, sequence: sequence, payload: payload(Int(sequence), size: size), into: &bytes)
        }
        return bytes
    }

    private func scan(
        _ bytes: [UInt8], first: UInt64 = 1, isLast: Bool = true, snapshot: UInt64 = 0
    ) throws(JournalError) -> RecoveryScanner.SegmentResult {
        var scanner = RecoveryScanner(snapshotSequence: snapshot)
        return try bytes.withUnsafeBytes { raw in
            Result { () throws(JournalError) in try scanner.scan(raw, file: "journal-x.log", firstSequence: first, isLast: isLast) }
        }.get()
    }

    @Test func cleanSegmentAndSnapshotFiltering() throws {
        let bytes = segment(1...10)
        let all = try scan(bytes)
        #expect(all.records.map(\.sequence) == Array(1...10))
        #expect(all.tornTail == nil && all.validBytes == bytes.count && all.lastSequence == 10)
        let after = try scan(bytes, snapshot: 6)
        #expect(after.records.map(\.sequence) == [7, 8, 9, 10])
        #expect(after.lastSequence == 10)
    }

    @Test func tornTailsOfTheLastSegment() throws {
        let bytes = segment(1...5)
        let lastStart = recordOffsets(bytes)[4]
        // Incomplete record.
        let cut = try scan(Array(bytes[..<(bytes.count - 3)]))
        #expect(cut.tornTail?.offset == lastStart)
        #expect(cut.records.count == 4)
        // Last record's CRC fails and nothing follows.
        var flipped = bytes
        flipped[bytes.count - 1] ^= 1
        #expect(try scan(flipped).tornTail == .init(offset: lastStart, bytes: bytes.count - lastStart, reason: try scan(flipped).tornTail!.reason))
        // Zeros after the last record (file grew, data never written).
        let zeros = try scan(bytes + [UInt8](repeating: 0, count: 4096))
        #expect(zeros.tornTail?.offset == bytes.count && zeros.tornTail?.bytes == 4096 && zeros.records.count == 5)
        // Garbage after the last record.
        var generator = SystemRandomNumberGenerator()
        let garbage = (0..<2000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        #expect(try scan(bytes + garbage).tornTail?.offset == bytes.count)
    }

    @Test func damageFollowedByAValidRecordIsRefused() {
        let bytes = segment(1...5)
        let offsets = recordOffsets(bytes)
        var flipped = bytes
        flipped[offsets[2] + 20] ^= 1
        let error = expectJournalError { _ = try scan(flipped) }
        #expect(error?.code == .corruption && error?.offset == offsets[2])
        #expect(error?.description.contains("journal-x.log at offset \(offsets[2]): CRC mismatch") == true)
        #expect(error?.description.contains("refusing to start: restore the file or remove it and everything after it") == true)
        // A length made longer than the rest of the file looks incomplete, but valid records follow.
        var longer = bytes
        longer[offsets[2] + 2] = 0x10
        #expect(expectJournalError { _ = try scan(longer) }?.offset == offsets[2])
        // Any damage in a segment that is not the last is refused, even at its very end.
        #expect(expectJournalError { _ = try scan(Array(bytes.dropLast()), isLast: false) }?.offset == offsets[4])
    }

    @Test func gapsRepeatsAndNamesAreChecked() {
        var gap = segment(1...3)
        gap += segment(5...6)
        #expect(expectJournalError { _ = try scan(gap) }?.reason.contains("sequence gap: found 5, expected 4") == true)
        var repeated = segment(1...3)
        repeated += segment(3...4)
        #expect(expectJournalError { _ = try scan(repeated) }?.reason.contains("repeats") == true)
        #expect(expectJournalError { _ = try scan(segment(2...3), first: 1) }?.offset == 0)

        // Across segments.
        var scanner = RecoveryScanner(snapshotSequence: 0)
        let first = segment(1...3)
        _ = try? first.withUnsafeBytes { raw in
            Result { () throws(JournalError) in try scanner.scan(raw, file: "a", firstSequence: 1, isLast: false) }
        }.get()
        #expect(scanner.expectedNext == 4)
        let second = segment(5...6)
        let result = second.withUnsafeBytes { raw in
            Result { () throws(JournalError) in try scanner.scan(raw, file: "b", firstSequence: 5, isLast: true) }
        }
        guard case .failure(let error) = result else { Issue.record("missing segment accepted"); return }
        #expect(error.reason.contains("records 4...4 are missing"))
    }

    @Test func planDropsSegmentsCoveredBySnapshot() throws {
        #expect(try RecoveryScanner.plan(segments: [1, 11, 21], snapshotSequence: 0) == ([], [1, 11, 21]))
        #expect(try RecoveryScanner.plan(segments: [1, 11, 21], snapshotSequence: 10) == ([1], [11, 21]))
        #expect(try RecoveryScanner.plan(segments: [1, 11, 21], snapshotSequence: 15) == ([1], [11, 21]))
        #expect(try RecoveryScanner.plan(segments: [1, 11, 21], snapshotSequence: 40) == ([1, 11], [21]))
        #expect(try RecoveryScanner.plan(segments: [], snapshotSequence: 40) == ([], []))
        #expect(expectJournalError { _ = try RecoveryScanner.plan(segments: [11, 21], snapshotSequence: 0) }?.file == "journal-00000000000000000011.log")
        #expect(expectJournalError { _ = try RecoveryScanner.plan(segments: [31], snapshotSequence: 20) }?.reason.contains("records 21...30 are missing") == true)
    }
}
