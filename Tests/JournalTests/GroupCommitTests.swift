import Foundation
import Testing
@testable import Journal

@Suite struct GroupCommitTests {
    @Test func concurrentAppendsShareFsyncs() async throws {
        try await withTemporaryDirectory { directory in
            let (journal, _) = try openJournal(configuration(directory))
            let sequences = try await withThrowingTaskGroup(of: (Int, UInt64).self) { group in
                for n in 1...1000 {
                    group.addTask { (n, try await journal.append(kind: 5, payload: payload(n, size: 100))) }
                }
                var sequences: [Int: UInt64] = [:]
                for try await (n, sequence) in group { sequences[n] = sequence }
                return sequences
            }
            #expect(Set(sequences.values) == Set((1...1000).map { UInt64($0) }))
            let statistics = journal.statistics
            print("group commit: 1000 concurrent appends -> \(statistics.fsyncs) fsyncs in \(statistics.batches) batches (largest \(statistics.largestBatch) records)")
            #expect(statistics.recordsAppended == 1000)
            #expect(statistics.fsyncs < 200)
            #expect(statistics.fsyncs == statistics.batches)
            await journal.close()

            // The file order is the sequence order, and each appender's payload got its sequence.
            let (_, recovery) = try openJournal(configuration(directory))
            #expect(recovery.records.map(\.sequence) == (1...1000).map { UInt64($0) })
            for record in recovery.records {
                let n = sequences.first { $0.value == record.sequence }!.key
                #expect(record.payload == payload(n, size: 100))
            }
        }
    }

    @Test func closeWaitsForQueuedAppends() async throws {
        try await withTemporaryDirectory { directory in
            let (journal, _) = try openJournal(configuration(directory))
            let results = await withTaskGroup(of: Bool.self) { group in
                for n in 1...200 { group.addTask { (try? await journal.append(kind: 1, payload: payload(n))) != nil } }
                group.addTask { await journal.close(); return true }
                var results: [Bool] = []
                for await ok in group { results.append(ok) }
                return results
            }
            let succeeded = results.filter { $0 }.count - 1
            let (_, recovery) = try openJournal(configuration(directory))
            // Every append that succeeded is durable; the rest were refused after close.
            #expect(recovery.records.count == succeeded)
        }
    }

    @Test func groupCommitWindowBatchesSequentialBursts() async throws {
        try await withTemporaryDirectory { directory in
            let config = JournalConfiguration(directory: directory, groupCommitWindow: .milliseconds(20))
            let (journal, _) = try openJournal(config)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for n in 1...50 {
                    group.addTask {
                        try await Task.sleep(for: .microseconds(100 * n))  // trickle in over ~5 ms
                        _ = try await journal.append(kind: 1, payload: payload(n))
                    }
                }
                try await group.waitForAll()
            }
            #expect(journal.statistics.fsyncs <= 5)
            await journal.close()
        }
    }
}

@Suite struct SnapshotTests {
    @Test func snapshotCompactsAndRecoveryStartsFromIt() async throws {
        try await withTemporaryDirectory { directory in
            let config = configuration(directory, segmentBytes: 512)
            let (journal, _) = try openJournal(config)
            for n in 1...100 { _ = try await journal.append(kind: 1, payload: payload(n, size: 30)) }
            let before = try segmentFiles(directory)

            await #expect(throws: JournalError.self) { try await journal.snapshot(state: [1], upTo: 101) }
            try await journal.snapshot(state: Array("state@60".utf8), upTo: 60)
            let after = try segmentFiles(directory)
            #expect(after.count < before.count)
            #expect(try snapshotFiles(directory) == ["snapshot-00000000000000000060.snap"])
            // What remains starts at or before 61, and the segment after it starts after 61.
            let firsts = after.compactMap(FileNames.parseSegment)
            #expect(firsts[0] <= 61 && (firsts.count == 1 || firsts[1] > 61))
            #expect(journal.statistics.segmentsDeleted == before.count - after.count)

            for n in 101...110 { _ = try await journal.append(kind: 1, payload: payload(n, size: 30)) }
            await journal.close()

            var (reopened, recovery) = try openJournal(config)
            #expect(recovery.snapshot?.sequence == 60)
            #expect(recovery.snapshot?.state == Array("state@60".utf8))
            #expect(recovery.records.map(\.sequence) == (61...110).map { UInt64($0) })

            // A newer snapshot replaces the older one; everything but the active segment can go.
            await #expect(throws: JournalError.self) { try await reopened.snapshot(state: [], upTo: 50) }
            try await reopened.snapshot(state: Array("state@110".utf8), upTo: 110)
            #expect(try snapshotFiles(directory) == ["snapshot-00000000000000000110.snap"])
            #expect(try segmentFiles(directory).count == 1)
            #expect(try await reopened.append(kind: 1, payload: [7]) == 111)
            await reopened.close()
            (reopened, recovery) = try openJournal(config)
            #expect(recovery.snapshot?.sequence == 110 && recovery.records.map(\.sequence) == [111])
            await reopened.close()
        }
    }

    @Test func snapshotOfEverythingThenReopen() async throws {
        try await withTemporaryDirectory { directory in
            let (journal, _) = try openJournal(configuration(directory, segmentBytes: 256))
            for n in 1...40 { _ = try await journal.append(kind: 1, payload: payload(n, size: 30)) }
            try await journal.snapshot(state: [9, 9], upTo: 40)
            await journal.close()
            let (reopened, recovery) = try openJournal(configuration(directory, segmentBytes: 256))
            #expect(recovery.snapshot?.sequence == 40 && recovery.records.isEmpty && recovery.nextSequence == 41)
            #expect(try await reopened.append(kind: 1, payload: []) == 41)
            await reopened.close()
        }
    }

    /// With fsync off a machine crash can lose written records while the (always fsynced)
    /// snapshot survives: appends must continue after the snapshot, never reuse its sequences.
    @Test func logEndingBeforeTheSnapshotContinuesAfterIt() async throws {
        try await withTemporaryDirectory { directory in
            let (journal, _) = try openJournal(configuration(directory, fsync: false))
            for n in 1...10 { _ = try await journal.append(kind: 1, payload: payload(n)) }
            try await journal.snapshot(state: [10], upTo: 10)
            await journal.close()
            let name = try segmentFiles(directory).last!
            let bytes = try readBytes(directory + "/" + name)
            try writeBytes(Array(bytes[..<recordOffsets(bytes)[5]]), to: directory + "/" + name)  // records 1...5 left

            var (reopened, recovery) = try openJournal(configuration(directory))
            #expect(recovery.snapshot?.sequence == 10 && recovery.records.isEmpty && recovery.nextSequence == 11)
            #expect(try await reopened.append(kind: 1, payload: [11]) == 11)
            await reopened.close()
            (reopened, recovery) = try openJournal(configuration(directory))
            #expect(recovery.records == [JournalRecord(kind: 1, sequence: 11, payload: [11])])
            #expect(try segmentFiles(directory) == ["journal-00000000000000000011.log"])  // the old one was obsolete
            await reopened.close()
        }
    }

    @Test func corruptedNewestSnapshotIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let config = configuration(directory, segmentBytes: 512)
            let (journal, _) = try openJournal(config)
            for n in 1...50 { _ = try await journal.append(kind: 1, payload: payload(n, size: 30)) }
            try await journal.snapshot(state: payload(0, size: 1000), upTo: 40)
            await journal.close()
            let name = "snapshot-00000000000000000040.snap"
            try flipByte(in: directory + "/" + name, at: 500)
            let error = expectJournalError { _ = try openJournal(config) }
            #expect(error?.code == .corruption && error?.file == name && error?.offset == 28)
            #expect(error?.description.hasPrefix("\(name) at offset 28: CRC mismatch") == true)
            print("corrupted snapshot: \(error?.description ?? "")")

            // Truncated snapshot: also refused.
            try flipByte(in: directory + "/" + name, at: 500)
            let bytes = try readBytes(directory + "/" + name)
            try writeBytes(Array(bytes.prefix(600)), to: directory + "/" + name)
            #expect(expectJournalError { _ = try openJournal(config) }?.file == name)
        }
    }

    @Test func leftoversOfAnInterruptedSnapshotAreCleanedUp() async throws {
        try await withTemporaryDirectory { directory in
            let config = configuration(directory, segmentBytes: 256)
            let (journal, _) = try openJournal(config)
            for n in 1...40 { _ = try await journal.append(kind: 1, payload: payload(n, size: 30)) }
            await journal.close()
            let segments = try segmentFiles(directory)
            // Crash after the snapshot's rename but before compaction; and a half-written one.
            try writeBytes(SnapshotFormat.encode(sequence: 30, state: [3]), to: directory + "/snapshot-00000000000000000030.snap")
            try writeBytes([1, 2, 3], to: directory + "/snapshot-00000000000000000035.snap.tmp")
            let (reopened, recovery) = try openJournal(config)
            #expect(recovery.snapshot?.sequence == 30 && recovery.records.map(\.sequence) == (31...40).map { UInt64($0) })
            #expect(try segmentFiles(directory).count < segments.count)
            #expect(try snapshotFiles(directory) == ["snapshot-00000000000000000030.snap"])
            await reopened.close()
        }
    }
}

/// Throughput, measured once and printed, not asserted. `JOURNAL_BENCH=1 swift test --filter JournalBenchmark`.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["JOURNAL_BENCH"] != nil))
struct JournalBenchmark {
    @Test(arguments: [false, true])
    func sequentialSmallAppends(fsync: Bool) async throws {
        try await withTemporaryDirectory { directory in
            let (journal, _) = try openJournal(configuration(directory, fsync: fsync))
            let count = 100_000
            let small = [UInt8](repeating: 0xAB, count: 32)
            let start = ContinuousClock.now
            for _ in 0..<count { _ = try await journal.append(kind: 1, payload: small) }
            let elapsed = ContinuousClock.now - start
            let statistics = journal.statistics
            await journal.close()
            let seconds = elapsed.timeInterval
            print("benchmark: \(count) sequential 32-byte appends, fsync \(fsync ? "on" : "off"): \(String(format: "%.2f", seconds)) s, \(Int(Double(count) / seconds)) appends/s, \(statistics.fsyncs) fsyncs")
        }
    }

    @Test func concurrentSmallAppendsWithFsync() async throws {
        try await withTemporaryDirectory { directory in
            let (journal, _) = try openJournal(configuration(directory))
            let small = [UInt8](repeating: 0xAB, count: 32)
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<64 {
                    group.addTask { for _ in 0..<1_000 { _ = try await journal.append(kind: 1, payload: small) } }
                }
                try await group.waitForAll()
            }
            let seconds = (ContinuousClock.now - start).timeInterval
            let statistics = journal.statistics
            await journal.close()
            print("benchmark: 64 tasks x 1000 sequential 32-byte appends, fsync on: \(Int(64_000 / seconds)) appends/s, \(statistics.fsyncs) fsyncs, largest batch \(statistics.largestBatch)")
        }
    }
}
