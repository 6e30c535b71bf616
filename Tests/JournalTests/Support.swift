import Foundation
import Logging
import Testing
@testable import Journal

/// A fresh directory under the system temp directory, removed when `body` returns or throws.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("journal-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try await body(url.path)
}

/// Recovery logs at info/warning; keep test output for the numbers we print.
let quietLogger = Logger(label: "journal-tests") { _ in SwiftLogNoOpLogHandler() }

func configuration(_ directory: String, segmentBytes: Int = 64 << 20, fsync: Bool = true) -> JournalConfiguration {
    JournalConfiguration(directory: directory, segmentBytes: segmentBytes, fsync: fsync)
}

func openJournal(_ configuration: JournalConfiguration) throws -> (Journal, Journal.Recovery) {
    try Journal.open(configuration, logger: quietLogger)
}

/// `"record <n>"` padded with a recognisable pattern to `size` bytes.
func payload(_ n: Int, size: Int = 0) -> [UInt8] {
    var bytes = Array("record \(n)".utf8)
    while bytes.count < size { bytes.append(UInt8(truncatingIfNeeded: n &+ bytes.count)) }
    return bytes
}

func segmentFiles(_ directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("journal-") && $0.hasSuffix(".log") }.sorted()
}

func snapshotFiles(_ directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("snapshot-") }.sorted()
}

func readBytes(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

func writeBytes(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func flipByte(in path: String, at offset: Int) throws {
    var bytes = try readBytes(path)
    bytes[offset] ^= 0x5A
    try writeBytes(bytes, to: path)
}

/// Byte offsets where each record starts in a segment file's bytes.
func recordOffsets(_ bytes: [UInt8]) -> [Int] {
    var offsets: [Int] = []
    var offset = 0
    while case .record(_, let size) = RecordFormat.decode(bytes, at: offset) {
        offsets.append(offset)
        offset += size
    }
    return offsets
}

/// Expects `body` to throw a `JournalError` and returns it.
func expectJournalError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> JournalError? {
    do {
        try body()
        Issue.record("expected a JournalError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as JournalError {
        return error
    } catch {
        Issue.record("expected a JournalError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
