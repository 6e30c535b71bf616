import Foundation
import Logging

extension Journal {
    /// The file side of recovery: list the directory, read files, and carry out what the pure
    /// `RecoveryScanner` decides (delete obsolete segments, truncate a torn tail). Returns the
    /// writer, positioned to continue the last segment, and what was recovered.
    static func recover(
        _ configuration: JournalConfiguration, logger: Logger, lockFD: Int32
    ) throws(JournalError) -> (GroupCommitWriter, JournalRecovery) {
        let directory = configuration.directory
        let names = try POSIX.listDirectory(directory)
        var directoryChanged = false

        // A crash while writing a snapshot leaves its temporary file; the snapshot never counted.
        for name in names where name.hasSuffix(FileNames.temporarySuffix) {
            try POSIX.removeFile(POSIX.join(directory, name))
            directoryChanged = true
            logger.notice("journal removed an unfinished snapshot", metadata: ["file": "\(name)"])
        }

        // The newest snapshot must be intact: older segments may already be deleted, so falling
        // back to an older snapshot could silently lose state.
        var snapshot: (sequence: UInt64, state: [UInt8])?
        if let newest = names.compactMap(FileNames.parseSnapshot).max() {
            let name = FileNames.snapshot(sequence: newest)
            let bytes = try POSIX.readFile(POSIX.join(directory, name))
            switch SnapshotFormat.decode(bytes, expectedSequence: newest) {
            case .snapshot(let sequence, let state):
                snapshot = (sequence, state)
            case .invalid(let offset, let reason):
                throw JournalError.corruptSnapshot(name, offset: offset, reason)
            }
        }
        let snapshotSequence = snapshot?.sequence ?? 0

        let (obsolete, live) = try RecoveryScanner.plan(
            segments: names.compactMap(FileNames.parseSegment).sorted(), snapshotSequence: snapshotSequence)
        for first in obsolete {
            // Left by a crash between writing a snapshot and compacting.
            try POSIX.removeFile(POSIX.join(directory, FileNames.segment(firstSequence: first)))
            directoryChanged = true
            logger.notice(
                "journal removed a segment covered by the snapshot",
                metadata: ["segment": "\(FileNames.segment(firstSequence: first))"])
        }

        var scanner = RecoveryScanner(snapshotSequence: snapshotSequence)
        var records: [JournalRecord] = []
        var truncatedTail: (file: String, offset: Int, bytes: Int)?
        var lastValidBytes = 0
        for (index, first) in live.enumerated() {
            let name = FileNames.segment(firstSequence: first)
            let path = POSIX.join(directory, name)
            let bytes = try POSIX.readFile(path)
            let isLast = index == live.count - 1
            let result = try bytes.withUnsafeBytes { raw in
                Result { () throws(JournalError) in try scanner.scan(raw, file: name, firstSequence: first, isLast: isLast) }
            }.get()
            records.append(contentsOf: result.records)
            lastValidBytes = result.validBytes
            if let torn = result.tornTail {
                let fd = try POSIX.openFile(path, O_WRONLY)
                defer { POSIX.closeFile(fd) }
                try POSIX.truncate(fd, to: torn.offset, path: path)
                try POSIX.sync(fd, path: path)
                truncatedTail = (name, torn.offset, torn.bytes)
                logger.warning(
                    "journal cut off a torn write at the end of the last segment",
                    metadata: [
                        "segment": "\(name)", "offset": "\(torn.offset)", "bytes": "\(torn.bytes)",
                        "reason": "\(torn.reason)",
                    ])
            }
        }

        // Continue the last segment, unless there is none or it ends before the snapshot (records
        // lost with fsync off while the snapshot survived): then start a segment after the
        // snapshot, which makes the old ones obsolete.
        let logNext = scanner.expectedNext ?? snapshotSequence + 1
        let nextSequence = max(logNext, snapshotSequence + 1)
        var segments = live
        let activeFD: Int32
        let activeSize: Int
        if let last = live.last, logNext == nextSequence {
            activeFD = try POSIX.openFile(POSIX.join(directory, FileNames.segment(firstSequence: last)), O_WRONLY)
            activeSize = lastValidBytes
        } else {
            let name = FileNames.segment(firstSequence: nextSequence)
            activeFD = try POSIX.openFile(POSIX.join(directory, name), O_WRONLY | O_CREAT | O_EXCL)
            activeSize = 0
            segments.append(nextSequence)
            directoryChanged = true
        }
        if directoryChanged {
            do { try POSIX.fsyncDirectory(directory) } catch {
                POSIX.closeFile(activeFD)
                throw error
            }
        }

        logger.info(
            "journal recovered",
            metadata: [
                "directory": "\(directory)", "snapshot": "\(snapshot.map { String($0.sequence) } ?? "none")",
                "records": "\(records.count)", "segments": "\(segments.count)", "nextSequence": "\(nextSequence)",
            ])
        let writer = GroupCommitWriter(
            configuration: configuration, logger: logger, lockFD: lockFD, segments: segments,
            activeFD: activeFD, activeSize: activeSize, nextSequence: nextSequence,
            snapshotSequence: snapshotSequence)
        let recovery = JournalRecovery(
            snapshot: snapshot, records: records, truncatedTail: truncatedTail, nextSequence: nextSequence)
        return (writer, recovery)
    }
}
