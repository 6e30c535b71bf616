import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A pool of connections to one peer. Calls go to the established connection with the fewest
/// outstanding calls; a lost connection is re-dialled in the background with jittered
/// exponential backoff until the pool is closed.
public final class ETunnelPeer: Sendable {
    public let endpoint: ETunnelEndpoint
    private let configuration: ETunnelConfiguration
    private let methods: ETunnelMethods
    private let group: any EventLoopGroup
    private let logger: Logger
    private let state: Mutex<State>

    enum Slot {
        case idle
        case connecting(EventLoopFuture<ConnectionCore>)
        case ready(ConnectionCore)
        case waiting(until: NIODeadline)
    }

    struct State {
        var slots: [Slot]
        var failures: [Int]
        var lastError: ETunnelError?
        var closed = false
    }

    init(endpoint: ETunnelEndpoint, configuration: ETunnelConfiguration, methods: ETunnelMethods, group: any EventLoopGroup, logger: Logger) {
        self.endpoint = endpoint
        self.configuration = configuration
        self.methods = methods
        self.group = group
        self.logger = logger
        let size = max(1, configuration.poolSize)
        self.state = Mutex(State(slots: Array(repeating: .idle, count: size), failures: Array(repeating: 0, count: size)))
    }

    // MARK: Calls

    /// A request/response call. Fails with `timedOut` at the deadline, `peerUnavailable` when no
    /// connection can be had, `connectionClosed`/`deadPeer` when the connection dies mid-call,
    /// or the error the peer's handler returned.
    public func call(_ method: MethodID, _ payload: ByteBuffer, timeout: Duration? = nil) async throws -> ByteBuffer {
        let timeout = timeout ?? configuration.defaultCallTimeout
        let deadline = NIODeadline.now() + .nanoseconds(timeout.nanoseconds)
        let core = try await acquire(deadline: deadline)
        return try await core.call(method: method.rawValue, payload: payload, deadline: deadline)
    }

    public func call<Request: ETunnelMessage, Response: ETunnelMessage>(_ method: MethodID, _ request: Request, as: Response.Type, timeout: Duration? = nil) async throws -> Response {
        let answer = try await call(method, request.encoded(), timeout: timeout)
        return try Response.decode(answer)
    }

    /// A one-way message; suspends while the peer grants no credit.
    public func send(_ method: MethodID, _ payload: ByteBuffer) async throws {
        let core = try await acquire(deadline: .now() + .nanoseconds(configuration.defaultCallTimeout.nanoseconds))
        try await core.send(method: method.rawValue, payload: payload)
    }

    /// Calls outstanding over all connections of this pool.
    public var outstanding: Int {
        let cores = state.withLock { $0.slots.compactMap { slot -> ConnectionCore? in if case .ready(let c) = slot { c } else { nil } } }
        return cores.reduce(0) { $0 + $1.outstanding }
    }

    public var readyConnections: Int {
        state.withLock { $0.slots.reduce(0) { n, slot in if case .ready = slot { n + 1 } else { n } } }
    }

    // MARK: Connections

    private func acquire(deadline: NIODeadline) async throws -> ConnectionCore {
        while true {
            enum Next { case use(ConnectionCore), wait(EventLoopFuture<ConnectionCore>), fail(ETunnelError) }
            var dial: [Int] = []
            let next: Next = state.withLock { s in
                if s.closed { return .fail(ETunnelError(.shuttingDown, "pool to \(endpoint) is closed")) }
                var best: ConnectionCore?
                var bestLoad = Int.max
                for slot in s.slots {
                    // `outstanding` is an atomic read; a closed core fails its calls by itself.
                    if case .ready(let core) = slot {
                        let load = core.outstanding
                        if load < bestLoad { best = core; bestLoad = load }
                    }
                }
                if let best { return .use(best) }
                // Nothing ready: dial idle slots now; wait on one that is connecting.
                for index in s.slots.indices { if case .idle = s.slots[index] { dial.append(index) } }
                for index in dial { s.slots[index] = .waiting(until: .distantFuture) }
                for slot in s.slots { if case .connecting(let future) = slot { return .wait(future) } }
                if !dial.isEmpty { return .fail(ETunnelError(.peerUnavailable, "")) }
                let reason = s.lastError.map { ": \($0.message)" } ?? ""
                return .fail(ETunnelError(.peerUnavailable, "no connection to \(endpoint)\(reason)"))
            }
            if !dial.isEmpty {
                for index in dial { connect(slot: index) }
                continue
            }
            switch next {
            case .use(let core):
                return core
            case .wait(let future):
                if NIODeadline.now() >= deadline {
                    throw ETunnelError(.timedOut, "no connection to \(endpoint) before the deadline")
                }
                _ = try? await future.get()
            case .fail(let error):
                throw error
            }
        }
    }

    private func connect(slot index: Int) {
        let future = ClientBootstrap(group: group)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { [configuration, methods, logger] channel in
                channel.eventLoop.makeCompletedFuture {
                    _ = try channel.pipeline.syncOperations.configureETunnelPipeline(
                        role: .client, configuration: configuration, methods: methods, logger: logger)
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .flatMap { channel in
                channel.pipeline.handler(type: ConnectionHandler.self).flatMap { handler in
                    handler.established.futureResult
                }
            }
        let proceed = state.withLock { s -> Bool in
            guard !s.closed else { return false }
            s.slots[index] = .connecting(future)
            return true
        }
        guard proceed else { return }
        future.whenComplete { result in
            switch result {
            case .success(let core):
                let keep = self.state.withLock { s -> Bool in
                    guard !s.closed else { return false }
                    s.slots[index] = .ready(core)
                    s.failures[index] = 0
                    return true
                }
                if !keep { core.close(ETunnelError(.shuttingDown, "pool to \(self.endpoint) is closed")); return }
                core.channel.closeFuture.whenComplete { _ in self.connectionLost(slot: index) }
            case .failure(let error):
                let tunnelError = error as? ETunnelError ?? ETunnelError(.peerUnavailable, "cannot connect to \(self.endpoint): \(error)")
                self.state.withLock { $0.lastError = tunnelError }
                self.logger.debug("eTunnel connect failed", metadata: ["peer": "\(self.endpoint)", "error": "\(tunnelError)"])
                self.connectionLost(slot: index)
            }
        }
    }

    /// Schedules a redial of the slot after a jittered backoff.
    private func connectionLost(slot index: Int) {
        let delay: Duration? = state.withLock { s in
            guard !s.closed else { return nil }
            let attempt = s.failures[index]
            s.failures[index] += 1
            let delay = configuration.reconnectBackoff.delay(attempt: attempt)
            s.slots[index] = .waiting(until: .now() + .nanoseconds(delay.nanoseconds))
            return delay
        }
        guard let delay else { return }
        group.next().scheduleTask(in: .nanoseconds(delay.nanoseconds)) {
            let dial = self.state.withLock { s -> Bool in
                guard !s.closed, case .waiting = s.slots[index] else { return false }
                return true
            }
            if dial { self.connect(slot: index) }
        }
    }

    /// Closes every connection; pending calls fail with `shuttingDown`.
    public func close() {
        let cores = state.withLock { s -> [ConnectionCore] in
            s.closed = true
            return s.slots.compactMap { if case .ready(let core) = $0 { core } else { nil } }
        }
        for core in cores { core.close(ETunnelError(.shuttingDown, "pool to \(endpoint) is closed")) }
    }
}
