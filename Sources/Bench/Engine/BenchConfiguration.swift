/// One XMPP endpoint of the server under test (a front-end's c2s listener).
public struct Endpoint: Sendable, Codable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `HOST:PORT` (`[v6]:PORT` for IPv6).
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Everything a generator process needs to know about the devices and the server; identical in
/// the parent and in every worker process (which re-parse the same command line).
public struct BenchConfiguration: Sendable, Codable {
    public var targets: [Endpoint]
    public var domain: String
    public var userPrefix: String
    public var password: String
    /// Number of the first device (`user<first>`).
    public var first: Int
    /// Total devices across all processes.
    public var devices: Int
    public var mechanism: LoginMechanism
    public var startTLS: Bool
    /// Resource asked for at bind; nil lets the server choose.
    public var resource: String?
    /// Loopback source addresses 127.0.0.1…127.0.0.k to bind client sockets to (0: let the
    /// kernel choose). Each source address has its own ~28K ephemeral ports.
    public var sourceAddresses: Int
    /// Seconds a device may take from connect to ready before it counts as failed.
    public var loginTimeout: Double
    /// Event loops per process (0: one per core).
    public var threads: Int
    /// Chat: each device sends to its next `neighbours` devices in turn.
    public var neighbours: Int
    /// Chat: minimum message body size in bytes.
    public var bodySize: Int
    /// Lowest SCRAM iteration count accepted from the server.
    public var minimumIterations: Int
    /// Cache SCRAM key derivations per salt (false: derive on every login, as a real device does).
    public var cacheSCRAMKeys = true

    public init(
        targets: [Endpoint], domain: String, userPrefix: String = "user", password: String = "pw", first: Int = 1,
        devices: Int, mechanism: LoginMechanism = .scramSHA256, startTLS: Bool = false, resource: String? = "bench",
        sourceAddresses: Int = 0, loginTimeout: Double = 30, threads: Int = 0, neighbours: Int = 1, bodySize: Int = 0,
        minimumIterations: Int = 4096
    ) {
        self.targets = targets
        self.domain = domain
        self.userPrefix = userPrefix
        self.password = password
        self.first = first
        self.devices = devices
        self.mechanism = mechanism
        self.startTLS = startTLS
        self.resource = resource
        self.sourceAddresses = sourceAddresses
        self.loginTimeout = loginTimeout
        self.threads = threads
        self.neighbours = neighbours
        self.bodySize = bodySize
        self.minimumIterations = minimumIterations
    }

    /// The local part of device `index` (0-based): `user<first + index>`.
    public func username(_ index: Int) -> String { "\(userPrefix)\(first + index)" }

    public func bareJID(_ index: Int) -> String { "\(username(index))@\(domain)" }

    /// Devices are spread round-robin over the target endpoints…
    public func target(for index: Int) -> Endpoint { targets[index % targets.count] }

    /// …and over the source addresses, so that consecutive devices use different port spaces.
    public func sourceAddress(for index: Int) -> String? {
        sourceAddresses > 0 ? "127.0.0.\(1 + (index / max(1, targets.count)) % sourceAddresses)" : nil
    }

    /// Chat: the device that send number `turn` of device `sender` goes to (neighbour
    /// `1 + turn % neighbours`, wrapping around the device ring).
    public func receiver(of sender: Int, turn: Int) -> Int {
        (sender + 1 + turn % max(1, neighbours)) % devices
    }

    public func login(_ index: Int) -> LoginOptions {
        LoginOptions(username: username(index), domain: domain, password: password, mechanism: mechanism,
                     startTLS: startTLS, resource: resource, sendPresence: true, minimumIterations: minimumIterations,
                     cacheSCRAMKeys: cacheSCRAMKeys)
    }
}

/// Which share of the devices a process handles: worker `index` of `count` takes a contiguous
/// block, so each device is handled by exactly one process.
public struct WorkerShare: Sendable, Codable, Hashable {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) {
        precondition(count >= 1 && index >= 0 && index < count)
        self.index = index
        self.count = count
    }

    public static let whole = WorkerShare(index: 0, count: 1)

    /// `i/P`, 1-based as written on the command line (`--worker 2/4` is the second of four).
    public init?(argument: String) {
        let parts = argument.split(separator: "/")
        guard parts.count == 2, let i = Int(parts[0]), let p = Int(parts[1]), p >= 1, i >= 1, i <= p else { return nil }
        self.init(index: i - 1, count: p)
    }

    public var argument: String { "\(index + 1)/\(count)" }

    public func devices(of total: Int) -> Range<Int> {
        (total * index / count)..<(total * (index + 1) / count)
    }
}
