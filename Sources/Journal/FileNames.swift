/// File names in the journal directory. The number in a name is zero-padded to 20 digits (the
/// width of `UInt64.max`) so that names sort in sequence order in `ls` and in any tool.
///
/// - `journal-<first sequence>.log`: a segment; its first record has that sequence (an empty
///   segment will get it). The name carries the first sequence so a reader can find the segment
///   holding sequence N without opening files, and so recovery can detect a missing segment.
/// - `snapshot-<sequence>.snap`: a snapshot covering every record with sequence <= that number.
/// - `*.tmp`: a snapshot being written; left behind only by a crash, removed at open.
/// - `journal.lock`: held with `flock` while a process has the journal open.
enum FileNames {
    static let lockFile = "journal.lock"
    static let temporarySuffix = ".tmp"

    static func segment(firstSequence: UInt64) -> String { "journal-\(padded(firstSequence)).log" }
    static func snapshot(sequence: UInt64) -> String { "snapshot-\(padded(sequence)).snap" }

    static func parseSegment(_ name: String) -> UInt64? { parse(name, prefix: "journal-", suffix: ".log") }
    static func parseSnapshot(_ name: String) -> UInt64? { parse(name, prefix: "snapshot-", suffix: ".snap") }

    static func padded(_ value: UInt64) -> String {
        let digits = String(value)
        return String(repeating: "0", count: 20 - digits.count) + digits
    }

    private static func parse(_ name: String, prefix: String, suffix: String) -> UInt64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        let digits = name.dropFirst(prefix.count).dropLast(suffix.count)
        guard digits.count == 20, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return UInt64(digits)
    }
}
