/// Everything the journal refuses or fails to do, with the evidence: which file, at which byte
/// offset, and why. For corruption the description also says what an operator can do about it,
/// because the journal will not guess (see `Journal.open`).
public struct JournalError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: Sendable, Equatable, Hashable {
        /// A segment or snapshot is damaged somewhere recovery must not silently drop data.
        case corruption
        /// A system call failed (open, pwrite, fsync, rename, ...). After a failed write or fsync
        /// the journal stops: what reached the disk is unknown, so later appends are refused.
        case io
        /// `append` with a payload above `RecordFormat.maxPayloadBytes`.
        case payloadTooLarge
        /// The call is not valid (bad configuration, snapshot beyond the durable sequence, ...).
        case invalidArgument
        /// Another `Journal` (in this or another process) holds the directory's lock.
        case locked
        /// `append` or `snapshot` after `close()`.
        case closed
    }

    public var code: Code
    /// The file concerned, relative to the journal directory (nil when no file is involved).
    public var file: String?
    /// The byte offset in `file` where the evidence is (the start of the bad record).
    public var offset: Int?
    /// What is wrong, with the values seen.
    public var reason: String
    /// What an operator can do, if anything.
    public var remedy: String?

    public init(code: Code, file: String? = nil, offset: Int? = nil, reason: String, remedy: String? = nil) {
        self.code = code
        self.file = file
        self.offset = offset
        self.reason = reason
        self.remedy = remedy
    }

    public var description: String {
        var text = ""
        if let file {
            text += file
            if let offset { text += " at offset \(offset)" }
            text += ": "
        }
        text += reason
        if let remedy { text += "; " + remedy }
        return text
    }

    static let segmentRemedy = "refusing to start: restore the file or remove it and everything after it"

    static func corruptSegment(_ file: String, offset: Int, _ reason: String) -> JournalError {
        JournalError(code: .corruption, file: file, offset: offset, reason: reason, remedy: segmentRemedy)
    }

    static func corruptSnapshot(_ file: String, offset: Int, _ reason: String) -> JournalError {
        JournalError(
            code: .corruption, file: file, offset: offset, reason: reason,
            remedy: "refusing to start: restore the file (removing it loses the state it holds unless "
                + "an older snapshot and every segment after it still exist)")
    }
}
