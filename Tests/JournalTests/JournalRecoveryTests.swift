import Foundation
import Testing
@testable import Journal

@Suite struct JournalRecoveryTests {
    /// fsync off only to keep the suite fast on a busy disk (10,000 sequential fsyncs take 2-20 s
    /// here); recovery reads the same files either way, and durability has its own tests.
    @Test func tenThousandRecordsSurviveReopen() async throws {
        try await withTemporaryDirectory { directory in
            let (journal, first) = try openJournal(configuration(directory, fsync: false))
            #expect(first.records.isEmpty && first.snapshot == nil && first.truncatedTail == nil && first.nextSequence == 1)
            for n in 1...10_000 {
                let sequence = try await journal.append(kind: UInt8(n % 256), payload: payload(n))
                #expect(sequence == UInt64(n))
            }
            #expect(journal.statistics.recordsAppended == 10_000)
            #expect(journal.statistics.lastSequence == 10_000)
            await journal.close()
            await #expect(throws: JournalError.self) { _ = try await journal.append(kind: 0, payload: []) }

            let (reopened, recovery) = try openJournal(configuration(directory))
            #expect(recovery.records.count == 10_000)
            #expect(recovery.records.map(\.sequence) == (1...10_000).map { UInt64($0) })
            #expect(recovery.records.allSatisfy { $0.payload == payload(Int($0.sequence)) && $0.kind == UInt8($0.sequence % 256) })
            #expect(recovery.truncatedTail == nil && recovery.nextSequence == 10_001)
            #expect(try await reopened.append(kind: 1, payload: [1]) == 10_001)
            await reopened.close()
        }
    }

    @Test func segmentsRollOverAndRecoverySpansThem() async throws {
        try await withTemporaryDirectory { directory in
            let config = configuration(directory, segmentBytes: 1024)
            let (journal, _) = try openJournal(config)
            for n in 1...300 { _ = try await journal.append(kind: 2, payload: payload(n, size: 40)) }
            await journal.close()

            let segments = try segmentFiles(directory)
            #expect(segments.count >= 10, "\(segments.count) segments")
            var expectedFirst: UInt64 = 1
            for name in segments {
                let bytes = try readBytes(directory + "/" + name)
                // Named after its first record; at most one record beyond segmentBytes.
                #expect(FileNames.parseSegment(name) == expectedFirst)
                #expect(bytes.count < 1024 + RecordFormat.encodedSize(payloadCount: 40))
                expectedFirst += UInt64(recordOffsets(bytes).count)
            }
            #expect(expectedFirst == 301)

            let (reopened, recovery) = try openJournal(config)
            #expect(recovery.records.map(\.sequence) == (1...300).map { UInt64($0) })
            #expect(recovery.records.allSatisfy { $0.payload == payload(Int($0.sequence), size: 40) })
            for n in 301...400 { #expect(try await reopened.append(kind: 2, payload: payload(n, size: 40)) == UInt64(n)) }
            await reopened.close()
            let (_, again) = try openJournal(config)
            #expect(again.records.map(\.sequence) == (1...400).map { UInt64($0) })
        }
    }

    /// Cuts the last segment at every offset inside its last record: the earlier records come
    /// back, the cut is reported, and appends continue the sequence.
    @Test func tornTailAtEveryOffsetOfTheLastRecord() async throws {
        try await withTemporaryDirectory { directory in
            let original = directory + "/original"
            let config = configuration(original, segmentBytes: 600)
            let (journal, _) = try openJournal(config)
            for n in 1...30 { _ = try await journal.append(kind: 3, payload: payload(n, size: 50)) }
            await journal.close()
            let segments = try segmentFiles(original)
            #expect(segments.count > 1)
            let lastName = segments.last!
            let lastBytes = try readBytes(original + "/" + lastName)
            let lastStart = recordOffsets(lastBytes).last!

            for cut in (lastStart + 1)..<lastBytes.count {
                let copy = directory + "/cut-\(cut)"
                try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
                for name in segments.dropLast() {
                    try FileManager.default.copyItem(atPath: original + "/" + name, toPath: copy + "/" + name)
                }
                try writeBytes(Array(lastBytes[..<cut]), to: copy + "/" + lastName)

                let (reopened, recovery) = try openJournal(configuration(copy, segmentBytes: 600))
                #expect(recovery.records.map(\.sequence) == (1...29).map { UInt64($0) }, "cut at \(cut)")
                #expect(recovery.truncatedTail?.file == lastName)
                #expect(recovery.truncatedTail?.offset == lastStart)
                #expect(recovery.truncatedTail?.bytes == cut - lastStart)
                #expect(try readBytes(copy + "/" + lastName).count == lastStart)
                #expect(try await reopened.append(kind: 4, payload: [42]) == 30)
                await reopened.close()

                let (_, again) = try openJournal(configuration(copy, segmentBytes: 600))
                #expect(again.truncatedTail == nil)
                #expect(again.records.count == 30 && again.records.last == JournalRecord(kind: 4, sequence: 30, payload: [42]))
                try FileManager.default.removeItem(atPath: copy)
            }
        }
    }

    @Test func tornTailOfZerosOrBadLastCRC() async throws {
        try await withTemporaryDirectory { directory in
            let (journal, _) = try openJournal(configuration(directory))
            for n in 1...10 { _ = try await journal.append(kind: 1, payload: payload(n, size: 20)) }
            await journal.close()
            let path = directory + "/" + (try segmentFiles(directory)).last!
            let clean = try readBytes(path)

            try writeBytes(clean + [UInt8](repeating: 0, count: 8192), to: path)
            var (reopened, recovery) = try openJournal(configuration(directory))
            #expect(recovery.records.count == 10 && recovery.truncatedTail?.offset == clean.count && recovery.truncatedTail?.bytes == 8192)
            await reopened.close()

            try flipByte(in: path, at: clean.count - 1)
            (reopened, recovery) = try openJournal(configuration(directory))
            #expect(recovery.records.count == 9 && recovery.truncatedTail?.offset == recordOffsets(clean).last!)
            #expect(try await reopened.append(kind: 1, payload: []) == 10)
            await reopened.close()
        }
    }

    @Test func corruptedRecordWithValidRecordsAfterItIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let (journal, _) = try openJournal(configuration(directory))
            for n in 1...50 { _ = try await journal.append(kind: 1, payload: payload(n, size: 30)) }
            await journal.close()
            let name = try segmentFiles(directory).last!
            let bytes = try readBytes(directory + "/" + name)
            let offset = recordOffsets(bytes)[5]
            try flipByte(in: directory + "/" + name, at: offset + 25)

            let error = expectJournalError { _ = try openJournal(configuration(directory)) }
            #expect(error?.code == .corruption)
            #expect(error?.file == name)
            #expect(error?.offset == offset)
            let text = error?.description ?? ""
            #expect(text.hasPrefix("\(name) at offset \(offset): CRC mismatch ("))
            #expect(text.hasSuffix("refusing to start: restore the file or remove it and everything after it"))
            print("corrupted middle record: \(text)")
            // Nothing was changed on disk.
            #expect(try readBytes(directory + "/" + name).count == bytes.count)
        }
    }

    @Test func corruptedRecordInAnOlderSegmentIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let config = configuration(directory, segmentBytes: 500)
            let (journal, _) = try openJournal(config)
            for n in 1...100 { _ = try await journal.append(kind: 1, payload: payload(n, size: 30)) }
            await journal.close()
            let segments = try segmentFiles(directory)
            #expect(segments.count >= 3)
            // A middle record, and then the last record (nothing follows it in its file).
            let name = segments[1]
            let offsets = recordOffsets(try readBytes(directory + "/" + name))
            for offset in [offsets[2], offsets.last!] {
                try flipByte(in: directory + "/" + name, at: offset + 20)
                let error = expectJournalError { _ = try openJournal(config) }
                #expect(error?.file == name && error?.offset == offset && error?.code == .corruption)
                try flipByte(in: directory + "/" + name, at: offset + 20)  // repair
            }
            // A missing segment is a gap.
            try FileManager.default.removeItem(atPath: directory + "/" + segments[1])
            let gap = expectJournalError { _ = try openJournal(config) }
            #expect(gap?.file == segments[2] && gap?.reason.contains("are missing") == true)
        }
    }

    @Test func oneJournalPerDirectory() async throws {
        try await withTemporaryDirectory { directory in
            let (journal, _) = try openJournal(configuration(directory))
            #expect(expectJournalError { _ = try openJournal(configuration(directory)) }?.code == .locked)
            await journal.close()
            let (again, _) = try openJournal(configuration(directory))
            await again.close()
        }
    }

    @Test func oversizedPayloadIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let (journal, _) = try openJournal(configuration(directory))
            do {
                _ = try await journal.append(kind: 1, payload: [UInt8](repeating: 1, count: RecordFormat.maxPayloadBytes + 1))
                Issue.record("oversized payload accepted")
            } catch let error as JournalError {
                #expect(error.code == .payloadTooLarge)
                #expect(error.description.contains("16777217 bytes exceeds"))
            }
            // The largest allowed payload works and the journal goes on.
            #expect(try await journal.append(kind: 1, payload: [UInt8](repeating: 2, count: RecordFormat.maxPayloadBytes)) == 1)
            #expect(try await journal.append(kind: 1, payload: []) == 2)
            await journal.close()
            let (_, recovery) = try openJournal(configuration(directory))
            #expect(recovery.records.first?.payload.count == RecordFormat.maxPayloadBytes && recovery.records.count == 2)
        }
    }

    /// No `close()`: the journal is dropped. Everything acknowledged is there.
    @Test func droppedWithoutCloseKeepsAcknowledgedRecords() async throws {
        try await withTemporaryDirectory { directory in
            func writeAndDrop() async throws {
                let (journal, _) = try openJournal(configuration(directory))
                for n in 1...100 { _ = try await journal.append(kind: 1, payload: payload(n)) }
            }
            try await writeAndDrop()
            let (journal, recovery) = try openJournal(configuration(directory))
            #expect(recovery.records.map(\.sequence) == (1...100).map { UInt64($0) })
            await journal.close()
        }
    }

    /// Appends queue up behind a long group-commit window, then the writer stops like a killed
    /// process halfway through writing them: every acknowledged record is recovered, the
    /// recovered ones are 1...n without gaps, and the half-written record is cut off.
    @Test func simulatedCrashMidBatchKeepsEveryAcknowledgedRecord() async throws {
        try await withTemporaryDirectory { directory in
            let config = JournalConfiguration(directory: directory, groupCommitWindow: .milliseconds(300))
            let (journal, _) = try openJournal(config)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for n in 1...50 { group.addTask { _ = try await journal.append(kind: 1, payload: payload(n, size: 64)) } }
                try await group.waitForAll()
            }
            let acknowledged = await withTaskGroup(of: UInt64?.self) { group in
                for n in 51...250 {
                    group.addTask { try? await journal.append(kind: 1, payload: payload(n, size: 64)) }
                }
                group.addTask {
                    try? await Task.sleep(for: .milliseconds(50))  // inside the window: all queued
                    // One whole record (81 bytes) and 19 bytes of the next reach the file.
                    journal.simulateCrash(partialBytes: 100)
                    return nil
                }
                var acknowledged: [UInt64] = []
                for await sequence in group { if let sequence { acknowledged.append(sequence) } }
                return acknowledged
            }
            let (reopened, recovery) = try openJournal(configuration(directory))
            let recovered = recovery.records.map(\.sequence)
            #expect(recovered == (1...UInt64(recovered.count)).map { $0 })
            #expect(Set(acknowledged).isSubset(of: Set(recovered)))
            if acknowledged.isEmpty {  // the crash came inside the window, as intended (timing)
                #expect(recovered.count == 51)
                #expect(recovery.truncatedTail?.bytes == 19)
            }
            print("simulated crash: \(50 + acknowledged.count) acknowledged, \(recovered.count) recovered, torn tail \(String(describing: recovery.truncatedTail))")
            #expect(try await reopened.append(kind: 1, payload: []) == UInt64(recovered.count + 1))
            await reopened.close()
        }
    }
}
