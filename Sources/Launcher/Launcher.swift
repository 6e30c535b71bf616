import Foundation
import MMGSShared
import Synchronization

/// Starts every node of a cluster file as its own process on this machine, reports where each
/// listens, says `ready` once every node's /health answers 200, reports (never restarts) a node
/// that dies, and stops them all on SIGINT or SIGTERM.
public final class Launcher: Sendable {
    public struct Options: Sendable {
        public var clusterFile: String
        public var binDirectory: String
        public var logDirectory: String
        public var readyTimeout: Duration = .seconds(60)
        /// Devices to create (if absent) once the cluster is ready: id → password.
        public var demoDevices: [(id: String, password: String)] = []

        public init(clusterFile: String, binDirectory: String, logDirectory: String) {
            self.clusterFile = clusterFile
            self.binDirectory = binDirectory
            self.logDirectory = logDirectory
        }
    }

    struct Child: @unchecked Sendable {
        let node: ClusterFile.Node
        let process: Process
        let logPath: String
    }

    let options: Options
    let file: ClusterFile
    private let children = Mutex<[Child]>([])
    private let stopping = Atomic<Bool>(false)

    public init(options: Options) throws {
        self.options = options
        self.file = try ClusterFile.load(path: options.clusterFile)
        for node in file.nodes {
            let binary = options.binDirectory + "/" + node.role.executableName
            guard FileManager.default.isExecutableFile(atPath: binary) else {
                throw ConfigurationError("\(binary) is missing: build first (`swift build`), or pass --bin DIR")
            }
        }
    }

    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Runs the cluster until a signal; returns the exit code.
    public func run() -> Int32 {
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let done = DispatchSemaphore(value: 0)
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { done.signal() }
            source.resume()
            sources.append(source)
        }

        try? FileManager.default.createDirectory(atPath: options.logDirectory, withIntermediateDirectories: true)
        recordCurrentCluster()
        Self.say("MMGS cluster '\(file.cluster)' from \(options.clusterFile): starting \(file.nodes.count) nodes (logs in \(options.logDirectory))")
        for node in file.nodes {
            do {
                let child = try start(node)
                let e = [node.etunnel.map { "etunnel \($0)" }, node.http.map { "http \($0)" }, node.xmpp.map { "xmpp \($0)" }].compactMap { $0 }
                Self.say("  \(node.name.padding(toLength: 12, withPad: " ", startingAt: 0)) \(node.role.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) pid \(child.process.processIdentifier)  \(e.joined(separator: "  "))")
            } catch {
                Self.say("cannot start \(node.name): \(error)")
                stopAll()
                return 1
            }
        }

        DispatchQueue.global().async { self.waitUntilReady() }
        done.wait()
        _ = sources
        Self.say("stopping \(children.withLock { $0.count }) nodes…")
        stopAll()
        forgetCurrentCluster()
        Self.say("stopped")
        return 0
    }

    private func start(_ node: ClusterFile.Node) throws -> Child {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: options.binDirectory + "/" + node.role.executableName)
        process.arguments = ["--config", options.clusterFile, "--name", node.name]
        let logPath = options.logDirectory + "/" + node.name + ".log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        process.terminationHandler = { [weak self] process in
            guard let self, !self.stopping.load(ordering: .relaxed) else { return }
            let how = process.terminationReason == .uncaughtSignal ? "killed by signal \(process.terminationStatus)" : "exited with status \(process.terminationStatus)"
            Self.say("node \(node.name) (\(node.role.rawValue), pid \(process.processIdentifier)) \(how); not restarting it. Log: \(logPath)")
            for line in Self.tail(of: logPath, lines: 3) { Self.say("    | \(line)") }
        }
        try process.run()
        let child = Child(node: node, process: process, logPath: logPath)
        children.withLock { $0.append(child) }
        return child
    }

    private func waitUntilReady() {
        let clock = ContinuousClock()
        let start = clock.now
        var pending = Set(file.nodes.map(\.name))
        while !pending.isEmpty && !stopping.load(ordering: .relaxed) {
            for node in file.nodes where pending.contains(node.name) {
                if let http = node.http, HealthProbe.status(host: http.host, port: http.port) == 200 { pending.remove(node.name) }
            }
            if pending.isEmpty { break }
            if clock.now - start > options.readyTimeout {
                Self.say("not ready after \(options.readyTimeout): waiting on \(pending.sorted().joined(separator: ", ")) (see their logs)")
                return
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        guard !stopping.load(ordering: .relaxed) else { return }
        let seconds = Double((clock.now - start).components.attoseconds) / 1e18 + Double((clock.now - start).components.seconds)
        Self.say(String(format: "cluster ready: all %d nodes healthy in %.1f s", file.nodes.count, seconds))
        let frontends = file.nodes.filter { $0.role == .frontend }.compactMap(\.xmpp).map(\.description)
        Self.say("  devices connect to \(frontends.joined(separator: " or ")) (domain \(file.domain)\(file.tlsCertificate != nil ? ", STARTTLS with a self-signed certificate" : ""))")
        provisionDemoDevices()
        Self.say("  try: mmgsctl topology   |   mmgsctl path alice@\(file.domain)   |   mmgsctl device list   |   Ctrl-C stops the cluster")
    }

    /// Creates the demo devices (an existing one is left as it is) and says how to log in.
    private func provisionDemoDevices() {
        guard !options.demoDevices.isEmpty else { return }
        let ctl = options.binDirectory + "/mmgsctl"
        Self.say("  demo devices (any XMPP client: Gajim, Dino, Profanity…):")
        for device in options.demoDevices {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: ctl)
            process.arguments = ["device", "add", device.id, "--password-stdin", "--cluster", options.clusterFile]
            let input = Pipe()
            let output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            process.standardError = output
            do {
                try process.run()
                input.fileHandleForWriting.write(Data((device.password + "\n").utf8))
                try? input.fileHandleForWriting.close()
                process.waitUntilExit()
            } catch {
                Self.say("    cannot run \(ctl): \(error)")
                return
            }
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let state = process.terminationStatus == 0 ? "created" : (text.contains("already exists") ? "exists" : "failed: \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
            Self.say("    \(device.id)@\(file.domain)  password \(device.password)  (\(state))")
        }
        let first = file.nodes.first { $0.role == .frontend }?.xmpp
        Self.say("  client settings: JID as above, server \(first?.host ?? "127.0.0.1") port \(first?.port ?? 5222), accept the self-signed certificate")
        Self.say("    profanity: /connect alice@\(file.domain) server \(first?.host ?? "127.0.0.1") port \(first?.port ?? 5222) tls trust")
    }

    private func recordCurrentCluster() {
        let pointer = ClusterFile.currentLocalClusterPointer
        let absolute = URL(fileURLWithPath: options.clusterFile).standardizedFileURL.path
        try? FileManager.default.createDirectory(atPath: (pointer as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try? absolute.write(toFile: pointer, atomically: true, encoding: .utf8)
    }

    private func forgetCurrentCluster() {
        let pointer = ClusterFile.currentLocalClusterPointer
        let absolute = URL(fileURLWithPath: options.clusterFile).standardizedFileURL.path
        if let recorded = try? String(contentsOfFile: pointer, encoding: .utf8), recorded == absolute {
            try? FileManager.default.removeItem(atPath: pointer)
        }
    }

    static func tail(of path: String, lines: Int) -> [String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").suffix(lines).map { String($0.prefix(300)) }
    }

    /// SIGTERM to every node, then SIGKILL to any still running after 10 s.
    private func stopAll() {
        stopping.store(true, ordering: .relaxed)
        let all = children.withLock { $0 }
        for child in all where child.process.isRunning { kill(child.process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline && all.contains(where: { $0.process.isRunning }) { Thread.sleep(forTimeInterval: 0.05) }
        for child in all where child.process.isRunning {
            Self.say("  \(child.node.name) did not stop in 10 s: SIGKILL")
            kill(child.process.processIdentifier, SIGKILL)
        }
    }
}
