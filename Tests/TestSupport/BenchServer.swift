import Foundation

public struct MissingBinaryError: Error, CustomStringConvertible {
    public var description: String
}

/// Locates `mmgs-etunnel-bench`, built by `swift build --product mmgs-etunnel-bench`: the
/// `MMGS_ETUNNEL_BENCH` environment variable if set, else next to the test binary, else
/// `.build/debug/` of the package that contains this file.
public func etunnelBenchExecutable(filePath: String = #filePath) throws -> URL {
    let name = "mmgs-etunnel-bench"
    let fm = FileManager.default
    var candidates: [URL] = []
    if let explicit = ProcessInfo.processInfo.environment["MMGS_ETUNNEL_BENCH"] {
        candidates.append(URL(fileURLWithPath: explicit))
    }
    // The test binary sits in .build/<triple>/debug (Linux) or in a bundle below it (macOS).
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    for _ in 0..<5 {
        candidates.append(dir.appendingPathComponent(name))
        dir = dir.deletingLastPathComponent()
    }
    // Walk up from this source file to the package root.
    var root = URL(fileURLWithPath: filePath).deletingLastPathComponent()
    while root.path != "/" {
        if fm.fileExists(atPath: root.appendingPathComponent("Package.swift").path) {
            candidates.append(root.appendingPathComponent(".build/debug").appendingPathComponent(name))
            break
        }
        root = root.deletingLastPathComponent()
    }
    for url in candidates where fm.isExecutableFile(atPath: url.path) { return url }
    throw MissingBinaryError(description: """
        \(name) not found (looked at \(candidates.map(\.path).joined(separator: ", "))). \
        Build it first: swift build --product \(name)
        """)
}

/// A running `mmgs-etunnel-bench server`.
public final class BenchServerProcess: Sendable {
    public let process: ChildProcess
    public let port: Int

    private init(process: ChildProcess, port: Int) {
        self.process = process
        self.port = port
    }

    /// Starts the bench server and waits (up to `seconds`) for its `listening PORT` line.
    public static func start(port: Int = 0, secret: String, window: UInt32? = nil, seconds: Double = 10) async throws -> BenchServerProcess {
        var arguments = ["server", "--host", "127.0.0.1", "--port", "\(port)", "--secret", secret]
        if let window { arguments += ["--window", "\(window)"] }
        let child = try ChildProcess(executable: try etunnelBenchExecutable(), arguments: arguments)
        do {
            let line = try await child.waitForLine(prefix: "listening ", seconds: seconds)
            guard let bound = Int(line.dropFirst("listening ".count).trimmingCharacters(in: .whitespaces)) else {
                throw MissingBinaryError(description: "unexpected line from the bench server: \(line)")
            }
            return BenchServerProcess(process: child, port: bound)
        } catch {
            child.kill()
            throw error
        }
    }

    public var pid: Int32 { process.pid }
    public var isRunning: Bool { process.isRunning }

    public func kill(_ signal: Int32 = SIGKILL) { process.kill(signal) }
}
