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

    /// The same call without a task, for hot paths: `completion` runs exactly once, on the
    /// connection's event loop (or on the caller's thread when the call cannot start).
    public func call(_ method: MethodID, _ payload: ByteBuffer, timeout: Duration? = nil, completion: @escaping ETunnelCompletion) {
        let timeout = timeout ?? configuration.defaultCallTimeout
        let deadline = NIODeadline.now() + .nanoseconds(timeout.nanoseconds)
        switch acquireNow() {
        case .use(let core):
            core.call(method: method.rawValue, payload: payload, deadline: deadline, completion: completion)
        case .fail(let error):
            completion(.failure(error))
        case .wait(let future):
            let waiter = waitingPromise(for: future, deadline: deadline)
            waiter.futureResult.whenComplete { result in
                switch result {
                case .success(let core): core.call(method: method.rawValue, payload: payload, deadline: deadline, completion: completion)
                case .failure(let error): completion(.failure(Self.connectFailure(error, self.endpoint)))
                }
            }
        }
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

    /// The least loaded established connection; failing that, dials (at once, whatever the
    /// backoff: the caller wants an answer now) and waits for the dial up to the deadline.
    private func acquire(deadline: NIODeadline) async throws -> ConnectionCore {
        switch acquireNow() {
        case .use(let core):
            return core
        case .fail(let error):
            throw error
        case .wait(let future):
            return try await wait(for: future, deadline: deadline)
        }
    }

    enum Acquired { case use(ConnectionCore), wait(EventLoopFuture<ConnectionCore>), fail(ETunnelError) }

    /// The non-suspending half of `acquire`: a connection, a dial to wait for, or a failure.
    private func acquireNow() -> Acquired {
        typealias Next = Acquired
        var dial: [(Int, EventLoopPromise<ConnectionCore>)] = []
        let next: Next = state.withLock { s in
            if s.closed { return .fail(ETunnelError(.shuttingDown, "pool to \(endpoint) is closed")) }
            var best: ConnectionCore?
            var bestLoad = Int.max
            for slot in s.slots {
                if case .ready(let core) = slot, !core.isClosed {
                    let load = core.outstanding
                    if load < bestLoad { best = core; bestLoad = load }
                }
            }
            if let best { return .use(best) }
            for slot in s.slots { if case .connecting(let future) = slot { return .wait(future) } }
            // Nothing established or connecting: dial every idle slot, or one waiting out a backoff.
            var indices = s.slots.indices.filter { if case .idle = s.slots[$0] { true } else { false } }
            if indices.isEmpty, let waiting = s.slots.indices.first(where: { if case .waiting = s.slots[$0] { true } else { false } }) {
                indices = [waiting]
            }
            guard !indices.isEmpty else {
                return .fail(ETunnelError(.peerUnavailable, "the connections to \(endpoint) just closed"))
            }
            for index in indices {
                let promise = group.next().makePromise(of: ConnectionCore.self)
                s.slots[index] = .connecting(promise.futureResult)
                dial.append((index, promise))
            }
            return .wait(dial[0].1.futureResult)
        }
        for (index, promise) in dial { startConnect(slot: index, promise: promise) }
        return next
    }

    /// A promise completed by the dial, or failed at the caller's deadline, whichever is first.
    private func waitingPromise(for future: EventLoopFuture<ConnectionCore>, deadline: NIODeadline) -> EventLoopPromise<ConnectionCore> {
        let waiter = future.eventLoop.makePromise(of: ConnectionCore.self)
        future.cascade(to: waiter)
        let endpoint = self.endpoint
        let timer = future.eventLoop.scheduleTask(deadline: deadline) {
            waiter.fail(ETunnelError(.timedOut, "no connection to \(endpoint) before the deadline"))
        }
        waiter.futureResult.whenComplete { _ in timer.cancel() }
        return waiter
    }

    /// What a caller is told when the dial it waited for failed.
    static func connectFailure(_ error: any Error, _ endpoint: ETunnelEndpoint) -> ETunnelError {
        switch error {
        case let error as ETunnelError where error.code == .timedOut || error.code == .cancelled || error.code == .shuttingDown:
            return error
        case let error as ETunnelError:
            return ETunnelError(.peerUnavailable, "no connection to \(endpoint): \(error.message)")
        default:
            return ETunnelError(.peerUnavailable, "no connection to \(endpoint): \(error)")
        }
    }

    /// Waits for a dial, but no longer than the caller's deadline, and not after its cancellation.
    private func wait(for future: EventLoopFuture<ConnectionCore>, deadline: NIODeadline) async throws -> ConnectionCore {
        let waiter = waitingPromise(for: future, deadline: deadline)
        let endpoint = self.endpoint
        do {
            return try await withTaskCancellationHandler {
                try await waiter.futureResult.get()
            } onCancel: {
                waiter.fail(ETunnelError(.cancelled, "call to \(endpoint) cancelled while connecting"))
            }
        } catch {
            throw Self.connectFailure(error, endpoint)
        }
    }

    private func startConnect(slot index: Int, promise: EventLoopPromise<ConnectionCore>) {
        // The handshake's outcome is taken from the initializer, not looked up in the pipeline
        // after connect: a peer that refuses the handshake at once can close the channel (and
        // empty its pipeline) before the connect callback runs, and the lookup would then fail
        // with `notFound` instead of the peer's reason.
        let handshake = HandshakeOutcome()
        let future = ClientBootstrap(group: group)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { [configuration, methods, logger] channel in
                channel.eventLoop.makeCompletedFuture {
                    handshake.established = try channel.pipeline.syncOperations.configureETunnelPipeline(
                        role: .client, configuration: configuration, methods: methods, logger: logger)
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .flatMap { channel in
                handshake.established ?? channel.eventLoop.makeFailedFuture(
                    ETunnelError(.connectionClosed, "the connection to \(self.endpoint) closed before its handshake started"))
            }
        future.whenComplete { result in
            switch result {
            case .success(let core):
                let keep = self.state.withLock { s -> Bool in
                    guard !s.closed else { return false }
                    s.slots[index] = .ready(core)
                    s.failures[index] = 0
                    return true
                }
                guard keep else {
                    let error = ETunnelError(.shuttingDown, "pool to \(self.endpoint) is closed")
                    core.close(error)
                    promise.fail(error)
                    return
                }
                core.channel.closeFuture.whenComplete { _ in self.connectionLost(slot: index) }
                promise.succeed(core)
            case .failure(let error):
                let tunnelError = error as? ETunnelError ?? ETunnelError(.peerUnavailable, "cannot connect to \(self.endpoint): \(error)")
                self.state.withLock { $0.lastError = tunnelError }
                self.logger.debug("eTunnel connect failed", metadata: ["peer": "\(self.endpoint)", "error": "\(tunnelError)"])
                self.connectionLost(slot: index)
                promise.fail(tunnelError)
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
            let promise: EventLoopPromise<ConnectionCore>? = self.state.withLock { s in
                guard !s.closed, case .waiting = s.slots[index] else { return nil }
                let promise = self.group.next().makePromise(of: ConnectionCore.self)
                s.slots[index] = .connecting(promise.futureResult)
                return promise
            }
            if let promise { self.startConnect(slot: index, promise: promise) }
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

/// Where a dial's initializer leaves the handshake's future for the connect callback; both run
/// on the new channel's event loop, one after the other.
private final class HandshakeOutcome: @unchecked Sendable {
    var established: EventLoopFuture<ConnectionCore>?
}
