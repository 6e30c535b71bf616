import Foundation
import Synchronization

/// A child process whose stdout is collected line by line, for tests that need a peer they can
/// kill with SIGKILL. Call `kill` in every path (e.g. `defer`).
public final class ChildProcess: Sendable {
    private let process: Process
    private let output: Output
    public let pid: Int32

    private final class Output: Sendable {
        let state = Mutex<(lines: [String], partial: [UInt8], eof: Bool)>(([], [], false))
    }

    public init(executable: URL, arguments: [String]) throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardInput = FileHandle.nullDevice
        let output = Output()
        try process.run()
        self.process = process
        self.output = output
        self.pid = process.processIdentifier
        let reader = pipe.fileHandleForReading
        // A plain thread: the blocking reads must not hold a Swift concurrency thread.
        Thread.detachNewThread {
            while true {
                let data = reader.availableData
                if data.isEmpty {
                    output.state.withLock { $0.eof = true }
                    return
                }
                output.state.withLock { s in
                    for byte in data {
                        if byte == UInt8(ascii: "\n") {
                            s.lines.append(String(decoding: s.partial, as: UTF8.self))
                            s.partial = []
                        } else {
                            s.partial.append(byte)
                        }
                    }
                }
            }
        }
    }

    public var lines: [String] { output.state.withLock { $0.lines } }

    /// The first stdout line starting with `prefix`, waiting up to `seconds`.
    public func waitForLine(prefix: String, seconds: Double) async throws -> String {
        let find: @Sendable () -> String? = { [output] in output.state.withLock { s in s.lines.first { $0.hasPrefix(prefix) } } }
        _ = await waitUntil(seconds: seconds) { find() != nil }
        guard let found = find() else {
            throw TimeoutError(seconds: seconds, what: "a line starting with '\(prefix)' from pid \(pid) (got \(lines))")
        }
        return found
    }

    public var isRunning: Bool { process.isRunning }

    /// Sends `signal` (SIGKILL by default) if the process is still running.
    public func kill(_ signal: Int32 = SIGKILL) {
        if process.isRunning { _ = Foundation.kill(pid, signal) }
    }

    /// Waits for the process to exit; false if it is still running after `seconds`.
    public func waitForExit(seconds: Double) async -> Bool {
        await waitUntil(seconds: seconds) { !self.process.isRunning }
    }

    public var terminationStatus: Int32? { process.isRunning ? nil : process.terminationStatus }
    public var terminationReason: Process.TerminationReason? { process.isRunning ? nil : process.terminationReason }
}
