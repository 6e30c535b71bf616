import Dispatch
import ETunnel
import NIOCore
import NIOPosix
import Synchronization
import Testing
import TestSupport

extension Integration {
    /// Credit-based flow control: a receiver with window N never holds more than N unanswered
    /// requests/one-way messages, and senders wait for credit instead of overrunning it.
    @Suite("Flow control")
    struct FlowControlTests {
        static let parkedMethod = MethodID(service: 0x0002, method: 1)

        @Test("window 16: the server holds at most (and then exactly) 16 of 40 requests; all 40 complete")
        func requestWindow() async throws {
            let parked = ParkedCalls()
            let methods = echoMethods { $0.register(Self.parkedMethod) { call in parked.arrive(call) } }
            try await withLoopback(methods: methods, server: { $0.receiveWindow = 16 }, client: { $0.poolSize = 1 }) { loop async throws in
                _ = try await loop.peer.call(BenchMethods.echo, ByteBuffer(), timeout: .seconds(5))  // connect

                let calls = Task {
                    try await withThrowingTaskGroup(of: (UInt32, UInt32?).self) { group in
                        for i in UInt32(0)..<40 {
                            group.addTask {
                                (i, value(of: try await loop.peer.call(Self.parkedMethod, payload(i), timeout: .seconds(20))))
                            }
                        }
                        return try await group.reduce(into: [(UInt32, UInt32?)]()) { $0.append($1) }
                    }
                }
                do {
                    #expect(await waitUntil(seconds: 3) { parked.held == 16 }, "held \(parked.held)")
                    #expect(await waitUntil(seconds: 3) { loop.peer.outstanding == 40 }, "all 40 calls issued, 24 waiting for credit")
                    try await Task.sleep(for: .milliseconds(300))
                    #expect(parked.held == 16)
                    #expect(parked.arrived == 16, "no request beyond the window was sent")
                    #expect(parked.maxHeld == 16)
                    #expect(loop.server.connectionCount == 1)

                    parked.releaseAll()
                    let results = try await withTimeout(seconds: 10, "the 40 calls after release") { try await calls.value }
                    #expect(results.count == 40)
                    for (i, answer) in results { #expect(answer == i) }
                    #expect(parked.arrived == 40)
                    #expect(parked.maxHeld == 16, "never more than the window")
                    #expect(loop.peer.outstanding == 0)
                } catch {
                    calls.cancel()
                    parked.releaseAll()
                    throw error
                }
            }
        }

        @Test("credit keeps flowing: 2,000 requests through a window of 4 with answers given late")
        func smallWindowManyRequests() async throws {
            // Each request is answered by a task after a short hop, so credit returns asynchronously.
            let inFlight = Counter()
            let maxInFlight = Counter()
            let methods = echoMethods { methods in
                methods.register(Self.parkedMethod, async: { call in
                    maxInFlight.raise(to: inFlight.increment())
                    try await Task.sleep(for: .microseconds(200))
                    inFlight.decrement()
                    return call.payload
                })
            }
            try await withLoopback(methods: methods, server: { $0.receiveWindow = 4 }, client: { $0.poolSize = 1 }) { loop async throws in
                _ = try await loop.peer.call(BenchMethods.echo, ByteBuffer(), timeout: .seconds(5))
                let wrong = try await withTimeout(seconds: 30, "2,000 calls through a window of 4") {
                    try await withThrowingTaskGroup(of: Bool.self) { group in
                        for i in UInt32(0)..<2000 {
                            group.addTask { value(of: try await loop.peer.call(Self.parkedMethod, payload(i), timeout: .seconds(20))) == i }
                        }
                        return try await group.reduce(0) { $0 + ($1 ? 0 : 1) }
                    }
                }
                #expect(wrong == 0)
                #expect(maxInFlight.value <= 4)
            }
        }

        /// One-way credit returns as soon as the handler returns, so the receiver is stalled by
        /// blocking its only event-loop thread in the first one-way handler (the server runs on a
        /// group of its own; the client on another).
        final class StalledReceiver: Sendable {
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let gate = DispatchSemaphore(value: 0)
            let received = Counter()

            func methods() -> ETunnelMethods {
                echoMethods { methods in
                    methods.register(BenchMethods.sink) { [received, gate] _ in
                        if received.increment() == 1 {
                            _ = gate.wait(timeout: .now() + 5)  // bounded, in case the test fails early
                        }
                    }
                }
            }

            var count: Int { received.value }
            func release() { gate.signal() }

            /// Runs `body` with a loopback whose server has window 16 and is stalled by the first
            /// one-way message; releases the stall and shuts the group down afterwards.
            func run(_ body: (Loopback) async throws -> Void) async throws {
                do {
                    try await withLoopback(
                        methods: methods(),
                        server: { $0.receiveWindow = 16; $0.deadPeerTimeout = .seconds(10) },
                        client: { $0.poolSize = 1; $0.deadPeerTimeout = .seconds(10) },
                        serverGroup: group
                    ) { loop async throws in
                        do {
                            try await body(loop)
                            release()
                        } catch {
                            release()
                            throw error
                        }
                    }
                } catch {
                    try? await group.shutdownGracefully()
                    throw error
                }
                try await group.shutdownGracefully()
            }
        }

        @Test("one-way: 16 sends fit the window; the 17th waits until the receiver consumes")
        func oneWayWindow() async throws {
            let receiver = StalledReceiver()
            try await receiver.run { loop async throws in
                try await withTimeout(seconds: 3, "16 one-way sends within the window") {
                    for i in UInt32(0)..<16 { try await loop.peer.send(BenchMethods.sink, payload(i)) }
                }
                #expect(await waitUntil(seconds: 2) { receiver.count == 1 }, "the receiver is stalled in its first handler")

                let returned = Counter()
                let seventeenth = Task {
                    try await loop.peer.send(BenchMethods.sink, payload(16))
                    returned.increment()
                }
                try await Task.sleep(for: .milliseconds(500))
                #expect(returned.value == 0, "the 17th send returned without credit")
                #expect(receiver.count == 1)

                let releasedAt = ContinuousClock().now
                receiver.release()
                try await withTimeout(seconds: 3, "the 17th send after the receiver consumed") { try await seventeenth.value }
                #expect(returned.value == 1)
                #expect(secondsSince(releasedAt) < 1)
                #expect(await waitUntil(seconds: 2) { receiver.count == 17 }, "received \(receiver.count)")
            }
        }

        /// `ConnectionCore.send` waits for credit in a plain `withCheckedThrowingContinuation` with no
        /// cancellation handler (unlike `call`), so a task stuck behind a stalled receiver cannot be
        /// cancelled; it returns only when credit comes or the connection dies.
        @Test("one-way: a send waiting for credit throws cancelled when its task is cancelled")
        func oneWayCancellation() async throws {
            let receiver = StalledReceiver()
            try await receiver.run { loop async throws in
                try await withTimeout(seconds: 3, "16 one-way sends within the window") {
                    for i in UInt32(0)..<16 { try await loop.peer.send(BenchMethods.sink, payload(i)) }
                }
                #expect(await waitUntil(seconds: 2) { receiver.count == 1 })
                let waiting = Task { try await loop.peer.send(BenchMethods.sink, payload(16)) }
                try await Task.sleep(for: .milliseconds(200))
                waiting.cancel()
                let start = ContinuousClock().now
                let error = await tunnelError {
                    try await withTimeout(seconds: 1, "the cancelled send") { try await waiting.value }
                }
                #expect(error?.code == .cancelled, "got \(String(describing: error)) after \(secondsSince(start)) s")
            }
        }
    }
}
