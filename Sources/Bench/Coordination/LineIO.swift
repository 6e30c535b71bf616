#if canImport(Glibc)
import Glibc
#endif

/// Blocking newline-delimited I/O on a pipe descriptor. The coordination protocol is a handful
/// of small messages per step, so blocking calls (made on NIO's thread pool, never on an event
/// loop or the cooperative pool) are simpler than a channel and cost nothing measurable.
final class LineIO: @unchecked Sendable {
    private let readFD: Int32
    private let writeFD: Int32
    private var buffer: [UInt8] = []

    init(readFD: Int32, writeFD: Int32) {
        self.readFD = readFD
        self.writeFD = writeFD
    }

    /// The next line without its newline; nil at end of file. Not reentrant: one reader.
    func readLine() -> [UInt8]? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            let count = chunk.withUnsafeMutableBytes { read(readFD, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { return nil }
            buffer.append(contentsOf: chunk[0..<count])
        }
    }

    /// Writes `line` and a newline, all of it.
    func writeLine(_ line: [UInt8]) throws {
        var bytes = line
        bytes.append(UInt8(ascii: "\n"))
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(writeFD, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { throw WorkerProtocolError("pipe write failed: errno \(errno)") }
            offset += written
        }
    }

    func closeAll() {
        close(readFD)
        if writeFD != readFD { close(writeFD) }
    }
}
