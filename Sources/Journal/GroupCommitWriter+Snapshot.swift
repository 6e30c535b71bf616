import Foundation
import Logging

extension GroupCommitWriter {
    /// Writes a snapshot and compacts; runs on its own thread (blocking I/O), serialised by
    /// `snapshotLock`.
    func writeSnapshot(state: [UInt8], upTo sequence: UInt64) throws(JournalError) {
        snapshotLock.lock()
        defer { snapshotLock.unlock() }
        condition.lock()
        let open = lifecycle == .open && !writerExited
        let durable = durableSequence
        let previous = snapshotSequence
        condition.unlock()
        guard open else { throw JournalError(code: .closed, reason: "the journal is closed") }
        guard sequence >= 1, sequence <= durable else {
            throw JournalError(
                code: .invalidArgument,
                reason: "snapshot up to sequence \(sequence), but the last durable record is \(durable)")
        }
        guard sequence >= previous else {
            throw JournalError(
                code: .invalidArgument,
                reason: "snapshot up to sequence \(sequence) is older than the existing snapshot at \(previous)")
        }

        let directory = configuration.directory
        let name = FileNames.snapshot(sequence: sequence)
        let path = POSIX.join(directory, name)
        let temporary = path + FileNames.temporarySuffix
        let fd = try POSIX.openFile(temporary, O_WRONLY | O_CREAT | O_TRUNC)
        do {
            let header = SnapshotFormat.header(sequence: sequence, state: state)
            try POSIX.pwriteAll(fd, header, at: 0, path: temporary)
            try POSIX.pwriteAll(fd, state, at: header.count, path: temporary)
            try POSIX.sync(fd, path: temporary)
            POSIX.closeFile(fd)
        } catch {
            POSIX.closeFile(fd)
            try? POSIX.removeFile(temporary)
            throw error
        }
        try POSIX.renameFile(temporary, path)
        try POSIX.fsyncDirectory(directory)

        // The snapshot is durable: what it covers can go. Never the active segment.
        condition.lock()
        snapshotSequence = sequence
        var obsolete: [UInt64] = []
        while segments.count > 1, segments[1] <= sequence + 1 {
            obsolete.append(segments.removeFirst())
        }
        stats.snapshots += 1
        stats.segmentsDeleted += obsolete.count
        condition.unlock()
        for first in obsolete {
            try POSIX.removeFile(POSIX.join(directory, FileNames.segment(firstSequence: first)))
        }
        var olderSnapshots = 0
        for file in try POSIX.listDirectory(directory) {
            if let older = FileNames.parseSnapshot(file), older < sequence {
                try POSIX.removeFile(POSIX.join(directory, file))
                olderSnapshots += 1
            }
        }
        try POSIX.fsyncDirectory(directory)
        logger.info(
            "journal snapshot written",
            metadata: [
                "snapshot": "\(name)", "bytes": "\(state.count)",
                "segmentsDeleted": "\(obsolete.count)", "olderSnapshotsDeleted": "\(olderSnapshots)",
            ])
    }
}
