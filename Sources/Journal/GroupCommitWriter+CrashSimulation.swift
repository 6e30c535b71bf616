import Foundation

extension GroupCommitWriter {
    /// Tests only: makes the writer stop as if the process were killed before its next batch
    /// completes — the first `partialBytes` bytes of what is queued reach the file without fsync
    /// (a torn write), the queued appends fail (their callers never got an acknowledgement), and
    /// the files are let go without any closing work. Returns once the writer has exited.
    func simulateCrash(partialBytes: Int) {
        condition.lock()
        lifecycle = .crashed(partialBytes: partialBytes)
        condition.broadcast()
        while !writerExited { condition.wait() }
        condition.unlock()
    }

    /// Called by the writer thread with the lock held.
    func crash(partialBytes: Int) {
        buffer.removeAll(keepingCapacity: true)
        for entry in pending {
            RecordFormat.encode(kind: entry.kind, sequence: entry.sequence, payload: entry.payload, into: &buffer)
        }
        let torn = Array(buffer.prefix(partialBytes))
        try? POSIX.pwriteAll(segmentFD, torn, at: segmentSize, path: segmentPath)
        let lost = pending
        pending.removeAll()
        pendingBytes = 0
        for entry in lost {
            entry.continuation.resume(throwing: JournalError(code: .closed, reason: "simulated crash"))
        }
    }
}
