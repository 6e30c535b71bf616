import ETunnel
import NIOCore
import NIOPosix
import Synchronization
import Testing
import TestSupport

let testSecret = "etunnel-test-secret"

func makeConfiguration(
    name: String, secret: String = testSecret, _ adjust: (inout ETunnelConfiguration) -> Void = { _ in }
) -> ETunnelConfiguration {
    var configuration = ETunnelConfiguration(nodeName: name, clusterSecret: secret)
    adjust(&configuration)
    return configuration
}

/// Methods every loopback test server offers: echo answers with the request payload.
func echoMethods(_ extra: (inout ETunnelMethods) -> Void = { _ in }) -> ETunnelMethods {
    var methods = ETunnelMethods()
    methods.register(BenchMethods.echo) { call in call.respond(call.payload) }
    extra(&methods)
    return methods
}

/// A started server and a client with a pool to it; `close()` stops both.
struct Loopback: Sendable {
    let server: ETunnelServer
    let client: ETunnelClient
    let peer: ETunnelPeer

    func close() async {
        client.close()
        await server.close()
    }
}

/// Starts an in-process server on 127.0.0.1 port 0 and a client for it, runs `body`, and stops
/// both whether `body` succeeds or throws.
func withLoopback<T>(
    methods: ETunnelMethods,
    server serverAdjust: (inout ETunnelConfiguration) -> Void = { _ in },
    client clientAdjust: (inout ETunnelConfiguration) -> Void = { _ in },
    serverGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    _ body: (Loopback) async throws -> T
) async throws -> T {
    let server = try await ETunnelServer.start(
        host: "127.0.0.1", port: 0, configuration: makeConfiguration(name: "test-server", serverAdjust),
        methods: methods, group: serverGroup)
    let client = ETunnelClient(configuration: makeConfiguration(name: "test-client", clientAdjust))
    let loopback = Loopback(server: server, client: client, peer: client.peer(ETunnelEndpoint(host: "127.0.0.1", port: server.port)))
    do {
        let result = try await body(loopback)
        await loopback.close()
        return result
    } catch {
        await loopback.close()
        throw error
    }
}

/// Starts only a server, runs `body`, closes the server.
func withServer<T>(
    methods: ETunnelMethods,
    _ adjust: (inout ETunnelConfiguration) -> Void = { _ in },
    _ body: (ETunnelServer) async throws -> T
) async throws -> T {
    let server = try await ETunnelServer.start(
        host: "127.0.0.1", port: 0, configuration: makeConfiguration(name: "test-server", adjust), methods: methods)
    do {
        let result = try await body(server)
        await server.close()
        return result
    } catch {
        await server.close()
        throw error
    }
}

func payload(_ value: UInt32) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeInteger(value)
    return buffer
}

func value(of buffer: ByteBuffer) -> UInt32? {
    var buffer = buffer
    return buffer.readInteger(as: UInt32.self)
}

/// Runs `body`, which must throw an `ETunnelError`; returns it (or records nothing and returns
/// nil when it did not throw one, so the caller's `#expect`s fail with a clear message).
func tunnelError(_ body: () async throws -> Void) async -> ETunnelError? {
    do {
        try await body()
        return nil
    } catch let error as ETunnelError {
        return error
    } catch {
        return ETunnelError(.init(rawValue: 0xFFFF), "not an ETunnelError: \(error)")
    }
}

/// Requests parked by a test handler, answered when the test says so.
final class ParkedCalls: Sendable {
    struct State {
        var parked: [IncomingCall] = []
        var arrived = 0
        var maxHeld = 0
        var releasing = false
    }
    let state = Mutex(State())

    /// The handler: parks the call, or echoes it at once after `releaseAll`.
    func arrive(_ call: IncomingCall) {
        let answerNow = state.withLock { s -> Bool in
            s.arrived += 1
            if s.releasing { return true }
            s.parked.append(call)
            s.maxHeld = max(s.maxHeld, s.parked.count)
            return false
        }
        if answerNow { call.respond(call.payload) }
    }

    var held: Int { state.withLock { $0.parked.count } }
    var arrived: Int { state.withLock { $0.arrived } }
    var maxHeld: Int { state.withLock { $0.maxHeld } }

    /// Echoes every parked call, and every later one as it arrives.
    func releaseAll() {
        let calls = state.withLock { s -> [IncomingCall] in
            s.releasing = true
            defer { s.parked = [] }
            return s.parked
        }
        for call in calls { call.respond(call.payload) }
    }
}

/// An atomic integer in a class, so closures can share it.
final class Counter: Sendable {
    private let atomic = Atomic<Int>(0)
    init() {}
    var value: Int { atomic.load(ordering: .relaxed) }
    @discardableResult
    func increment() -> Int { atomic.add(1, ordering: .relaxed).newValue }
    func decrement() { atomic.subtract(1, ordering: .relaxed) }
    func raise(to candidate: Int) { atomic.max(candidate, ordering: .relaxed) }
}

/// The tests that use sockets, child processes or time bounds run one at a time (nested suites
/// inherit `.serialized`), so a CPU-heavy test such as 10,000 concurrent calls cannot distort the
/// time bounds of another on a small machine.
@Suite("eTunnel integration (serialized)", .serialized, .timeLimit(.minutes(3)))
struct Integration {}
