import ETunnel
import NIOCore
import Synchronization
import Testing
import TestSupport

extension Integration {
    /// The task-free call (`ETunnelPeer.call(_:_:timeout:completion:)`) the per-stanza paths use:
    /// the same outcomes as the async call, and its completion runs exactly once.
    @Suite("Callback calls over loopback")
    struct CallbackCallTests {
        /// Counts completions, so a callback that ran twice (or never) shows.
        final class Completions: Sendable {
            let count = Atomic<Int>(0)
        }

        /// One call; `completions` (one per call) counts how often its completion ran.
        static func call(_ peer: ETunnelPeer, _ method: MethodID, _ body: ByteBuffer, timeout: Duration,
                         counting completions: Completions = Completions()) async -> Result<ByteBuffer, ETunnelError> {
            await withCheckedContinuation { continuation in
                peer.call(method, body, timeout: timeout) { result in
                    if completions.count.add(1, ordering: .relaxed).newValue == 1 { continuation.resume(returning: result) }
                }
            }
        }

        @Test("the first call dials and waits for the connection; later calls use it")
        func echoWhileDialling() async throws {
            try await withLoopback(methods: CallTests.Server().methods()) { loop async throws in
                let (firstRuns, secondRuns) = (Completions(), Completions())
                let first = await Self.call(loop.peer, BenchMethods.echo, payload(7), timeout: .seconds(5), counting: firstRuns)
                #expect(try value(of: first.get()) == 7)
                let second = await Self.call(loop.peer, BenchMethods.echo, payload(8), timeout: .seconds(5), counting: secondRuns)
                #expect(try value(of: second.get()) == 8)
                try await Task.sleep(for: .milliseconds(50))
                #expect(firstRuns.count.load(ordering: .relaxed) == 1 && secondRuns.count.load(ordering: .relaxed) == 1, "each completion ran once")
                #expect(loop.peer.outstanding == 0)
            }
        }

        @Test("a handler's error arrives as the failure, with its code and message")
        func handlerError() async throws {
            try await withLoopback(methods: CallTests.Server().methods()) { loop async throws in
                let result = await Self.call(loop.peer, CallTests.refuse, ByteBuffer(), timeout: .seconds(5))
                #expect(result.failure == ETunnelError(.refused, "not the owner of key k at epoch 7"))
            }
        }

        @Test("a call nobody answers fails with timedOut and leaves the call table")
        func timeout() async throws {
            let server = CallTests.Server()
            try await withLoopback(methods: server.methods()) { loop async throws in
                _ = await Self.call(loop.peer, BenchMethods.echo, ByteBuffer(), timeout: .seconds(5))
                let result = await Self.call(loop.peer, CallTests.hang, ByteBuffer(), timeout: .milliseconds(100))
                #expect(result.failure?.code == .timedOut, "got \(result)")
                #expect(server.hung.arrived == 1)
                #expect(loop.peer.outstanding == 0)
                server.hung.releaseAll()
            }
        }

        @Test("no server: the call fails (peerUnavailable), it does not hang")
        func unreachable() async throws {
            let port = try await withServer(methods: echoMethods()) { $0.port }  // closed again: nothing listens
            let client = ETunnelClient(configuration: makeConfiguration(name: "test-client"))
            defer { client.close() }
            let result = await Self.call(client.peer(ETunnelEndpoint(host: "127.0.0.1", port: port)), BenchMethods.echo, ByteBuffer(), timeout: .seconds(5))
            #expect(result.failure?.code == .peerUnavailable, "got \(result)")
        }

        @Test("a thousand concurrent calls each complete once, with their own answer")
        func manyConcurrent() async throws {
            try await withLoopback(methods: CallTests.Server().methods()) { loop async throws in
                let completions = Completions()
                let answers = await withTaskGroup(of: (UInt32, UInt32?).self) { group in
                    for i in UInt32(0)..<1000 {
                        group.addTask {
                            let result = await Self.call(loop.peer, BenchMethods.echo, payload(i), timeout: .seconds(10), counting: Completions())
                            completions.count.add(1, ordering: .relaxed)
                            return (i, (try? result.get()).flatMap(value(of:)))
                        }
                    }
                    return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
                }
                #expect(answers.count == 1000)
                #expect(answers.allSatisfy { $0.key == $0.value })
                #expect(completions.count.load(ordering: .relaxed) == 1000)
            }
        }
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
