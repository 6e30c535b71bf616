import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// A worker process: this executable re-run with `--worker i/P`, driven over its stdin/stdout
/// with one JSON line per command and reply. Spreading devices over processes keeps each under
/// the per-process open-files cap; the worker exits when its stdin closes, so a dying
/// coordinator never leaves workers behind.
public actor ProcessWorkerLink: WorkerLink {
    public nonisolated let pid: Int32
    private let io: LineIO
    private var exited = false
    /// A thread of its own for the blocking pipe calls: a call blocks until the worker answers,
    /// which for a login ramp is the whole ramp, so links sharing a small pool (NIO's singleton
    /// has one thread per core) would start their workers one pool-full after another.
    private let pool = NIOThreadPool(numberOfThreads: 1)

    /// Starts `executable arguments…` with pipes on its stdin and stdout; stderr is shared with
    /// this process so worker logs show up.
    public init(executable: String, arguments: [String]) throws {
        var toChild: [Int32] = [0, 0]
        var fromChild: [Int32] = [0, 0]
        guard pipe(&toChild) == 0, pipe(&fromChild) == 0 else { throw WorkerProtocolError("pipe failed: errno \(errno)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        for fd in toChild + fromChild { posix_spawn_file_actions_addclose(&actions, fd) }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var child: pid_t = 0
        let result = posix_spawn(&child, executable, &actions, nil, argv, environ)
        close(toChild[0])
        close(fromChild[1])
        guard result == 0 else {
            close(toChild[1])
            close(fromChild[0])
            throw WorkerProtocolError("cannot start \(executable): error \(result)")
        }
        // The parent's ends must not leak into later children (they would keep pipes open).
        _ = fcntl(toChild[1], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fromChild[0], F_SETFD, FD_CLOEXEC)
        pid = child
        io = LineIO(readFD: fromChild[0], writeFD: toChild[1])
        pool.start()
    }

    public func call(_ command: WorkerCommand) async throws -> WorkerReply {
        guard !exited else { throw WorkerProtocolError("worker \(pid) has exited") }
        let line = try JSONLines.encode(command)
        let io = self.io
        let reply = try await pool.runIfActive { () throws -> [UInt8]? in
            try io.writeLine(line)
            return io.readLine()
        }
        guard let reply else {
            exited = true
            throw WorkerProtocolError("worker \(pid) closed its pipe (crashed?)")
        }
        return try JSONLines.decode(WorkerReply.self, from: reply)
    }

    /// Closes the pipes and reaps the process.
    public func finish() async {
        io.closeAll()
        exited = true
        let pid = self.pid
        _ = try? await pool.runIfActive {
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
        }
        try? await pool.shutdownGracefully()
    }

    /// This executable's path, for re-running it as a worker.
    public static func currentExecutable() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if count > 0 { return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return CommandLine.arguments[0]
    }
}

/// The worker side: reads commands from stdin, answers on stdout, until `.shutdown` or EOF.
/// Nothing else may write to stdout in a worker (logs go to stderr).
public enum WorkerServer {
    public static func run(engine: WorkerEngine) async throws {
        let io = LineIO(readFD: 0, writeFD: 1)
        while true {
            let line = try await NIOThreadPool.singleton.runIfActive { io.readLine() }
            guard let line else {
                _ = await engine.handle(.shutdown)
                return
            }
            let reply: WorkerReply
            let command: WorkerCommand?
            do {
                command = try JSONLines.decode(WorkerCommand.self, from: line)
                reply = await engine.handle(command!)
            } catch {
                command = nil
                reply = .failed("bad command: \(error)")
            }
            let encoded = try JSONLines.encode(reply)
            try await NIOThreadPool.singleton.runIfActive { try io.writeLine(encoded) }
            if command == .shutdown { return }
        }
    }
}
