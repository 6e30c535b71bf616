import ETunnel
import NIOCore
import Synchronization
import Testing
import TestSupport

extension Integration {
    /// Request/response calls through `ETunnelClient`/`ETunnelPeer` to an in-process server.
    @Suite("Calls over loopback")
    struct CallTests {
        static let hang = BenchMethods.hang
        static let refuse = MethodID(service: 0x0001, method: 1)
        static let crash = MethodID(service: 0x0001, method: 2)
        static let oversizedAnswer = MethodID(service: 0x0001, method: 3)
        static let slowAnswer = MethodID(service: 0x0001, method: 4)
        static let counted = MethodID(service: 0x0001, method: 5)
        static let point = MethodID(service: 0x0001, method: 6)
        static let unknown = MethodID(service: 0x1234, method: 9)

        struct Oops: Error {}

        struct Point: ETunnelMessage, Equatable {
            var x: Int32
            var y: Int32
            var label: String
            init(x: Int32, y: Int32, label: String) { self.x = x; self.y = y; self.label = label }
            init(from buffer: inout ByteBuffer) throws(ETunnelError) {
                x = try buffer.readPayloadInteger(Int32.self, field: "point.x")
                y = try buffer.readPayloadInteger(Int32.self, field: "point.y")
                label = try buffer.readShortString(field: "point.label")
            }
            func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
                buffer.writeInteger(x)
                buffer.writeInteger(y)
                try buffer.writeShortString(label)
            }
        }

        struct Tiny: ETunnelMessage {
            var value: UInt32
            init(_ value: UInt32) { self.value = value }
            init(from buffer: inout ByteBuffer) throws(ETunnelError) { value = try buffer.readPayloadInteger(UInt32.self, field: "tiny") }
            func encode(into buffer: inout ByteBuffer) { buffer.writeInteger(value) }
        }

        /// The server side of these tests: which calls arrived, and the hung ones.
        final class Server: Sendable {
            let hung = ParkedCalls()
            let countedArrivals = Atomic<Int>(0)

            func methods(maxFrameSize: Int = 1 << 20) -> ETunnelMethods {
                echoMethods { methods in
                    methods.register(CallTests.hang) { call in self.hung.arrive(call) }
                    methods.register(CallTests.refuse, async: { _ in
                        throw ETunnelError(.refused, "not the owner of key k at epoch 7")
                    })
                    methods.register(CallTests.crash, async: { _ in throw Oops() })
                    methods.register(CallTests.oversizedAnswer) { call in
                        call.respond(ByteBuffer(repeating: 0x55, count: maxFrameSize))
                    }
                    methods.register(CallTests.slowAnswer, async: { call in
                        try await Task.sleep(for: .milliseconds(300))
                        return call.payload
                    })
                    methods.register(CallTests.counted) { call in
                        self.countedArrivals.add(1, ordering: .relaxed)
                        call.respond(call.payload)
                    }
                    methods.register(CallTests.point, async: { call in
                        var p = try Point.decode(call.payload)
                        p.x += 1
                        p.y *= 2
                        p.label += "!"
                        return try p.encoded()
                    })
                }
            }
        }

        @Test("echo round trip", arguments: [0, 1, 200, 60 * 1024])
        func echo(size: Int) async throws {
            let server = Server()
            try await withLoopback(methods: server.methods()) { loop async throws in
                var rng = SplitMix64(seed: UInt64(size))
                let body = ByteBuffer(bytes: rng.bytes(size))
                let answer = try await loop.peer.call(BenchMethods.echo, body, timeout: .seconds(5))
                #expect(answer == body)
                #expect(loop.peer.outstanding == 0)
            }
        }

        @Test("typed call: the message is encoded, handled and decoded")
        func typedCall() async throws {
            let server = Server()
            try await withLoopback(methods: server.methods()) { loop async throws in
                let answer = try await loop.peer.call(Self.point, Point(x: 1, y: -3, label: "p"), as: Point.self, timeout: .seconds(5))
                #expect(answer == Point(x: 2, y: -6, label: "p!"))
                // The echo answers 4 bytes: too short for a Point.
                let error = await tunnelError { _ = try await loop.peer.call(BenchMethods.echo, Tiny(1), as: Point.self, timeout: .seconds(5)) }
                #expect(error?.code == .badPayload, "got \(String(describing: error))")
            }
        }

        @Test("an unknown method fails with noSuchMethod and the connection stays usable")
        func unknownMethod() async throws {
            let server = Server()
            try await withLoopback(methods: server.methods()) { loop async throws in
                let error = await tunnelError { _ = try await loop.peer.call(Self.unknown, ByteBuffer(), timeout: .seconds(5)) }
                #expect(error?.code == .noSuchMethod, "got \(String(describing: error))")
                #expect(error?.message.contains("\(Self.unknown)") == true, "message names the method: \(String(describing: error))")
                #expect(value(of: try await loop.peer.call(BenchMethods.echo, payload(5), timeout: .seconds(5))) == 5)
            }
        }

        @Test("a handler's ETunnelError reaches the caller with its code and message")
        func handlerError() async throws {
            let server = Server()
            try await withLoopback(methods: server.methods()) { loop async throws in
                let error = await tunnelError { _ = try await loop.peer.call(Self.refuse, ByteBuffer(), timeout: .seconds(5)) }
                #expect(error == ETunnelError(.refused, "not the owner of key k at epoch 7"))
            }
        }

        @Test("any other handler error reaches the caller as handlerFailed")
        func handlerOtherError() async throws {
            let server = Server()
            try await withLoopback(methods: server.methods()) { loop async throws in
                let error = await tunnelError { _ = try await loop.peer.call(Self.crash, ByteBuffer(), timeout: .seconds(5)) }
                #expect(error?.code == .handlerFailed, "got \(String(describing: error))")
                #expect(error?.message.contains("Oops") == true)
            }
        }

        @Test("a call nobody answers times out at its deadline (100 ms), not later")
        func timeout() async throws {
            let server = Server()
            try await withLoopback(methods: server.methods()) { loop async throws in
                _ = try await loop.peer.call(BenchMethods.echo, ByteBuffer(), timeout: .seconds(5))  // connect first
                let start = ContinuousClock().now
                let error = await tunnelError {
                    _ = try await withTimeout(seconds: 5, "a call with a 100 ms timeout") {
                        try await loop.peer.call(Self.hang, ByteBuffer(), timeout: .milliseconds(100))
                    }
                }
                let elapsed = secondsSince(start)
                #expect(error?.code == .timedOut, "got \(String(describing: error))")
                #expect(elapsed >= 0.09 && elapsed < 1.0, "timed out after \(elapsed) s")
                #expect(server.hung.arrived == 1, "the request did reach the server")
                #expect(loop.peer.outstanding == 0, "the timed-out call left the call table")
            }
        }

        @Test("a late answer after a timeout is dropped; the connection keeps working")
        func lateAnswer() async throws {
            let server = Server()
            try await withLoopback(methods: server.methods()) { loop async throws in
                let error = await tunnelError { _ = try await loop.peer.call(Self.slowAnswer, payload(1), timeout: .milliseconds(100)) }
                #expect(error?.code == .timedOut)
                try await Task.sleep(for: .milliseconds(400))  // the late answer arrives meanwhile
                for i in UInt32(0)..<20 {
                    #expect(value(of: try await loop.peer.call(BenchMethods.echo, payload(i), timeout: .seconds(5))) == i)
                }
            }
        }

        @Test("many calls with staggered deadlines each time out at their own deadline")
        func staggeredTimeouts() async throws {
            let server = Server()
            try await withLoopback(methods: server.methods()) { loop async throws in
                _ = try await loop.peer.call(BenchMethods.echo, ByteBuffer(), timeout: .seconds(5))
                // Longest first, so each new call has an earlier deadline than the armed timer.
                let results = try await withTimeout(seconds: 10, "staggered timeouts") {
                    try await withThrowingTaskGroup(of: (Int, Double, ETunnelError.Code?).self) { group in
                        for ms in [900, 700, 500, 300, 100] {
                            group.addTask {
                                let callStart = ContinuousClock().now
                                let error = await tunnelError { _ = try await loop.peer.call(Self.hang, ByteBuffer(), timeout: .milliseconds(ms)) }
                                return (ms, secondsSince(callStart), error?.code)
                            }
                            try await Task.sleep(for: .milliseconds(10))
                        }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                }
                #expect(results.count == 5)
                for (ms, elapsed, code) in results {
                    #expect(code == .timedOut)
                    // Under 180 ms late: a call that missed its own timer would wait for the next one, 200 ms later.
                    #expect(elapsed >= Double(ms) / 1000 - 0.01 && elapsed < Double(ms) / 1000 + 0.18, "\(ms) ms call ended after \(elapsed) s")
                }
            }
        }

        @Test("cancelling the task of a pending call makes it throw cancelled promptly")
        func cancellation() async throws {
            let server = Server()
            try await withLoopback(methods: server.methods()) { loop async throws in
                _ = try await loop.peer.call(BenchMethods.echo, ByteBuffer(), timeout: .seconds(5))
                let task = Task { try await loop.peer.call(Self.hang, ByteBuffer(), timeout: .seconds(10)) }
                #expect(await waitUntil(seconds: 2) { server.hung.arrived == 1 }, "the call reached the server")
                #expect(loop.peer.outstanding == 1)
                let start = ContinuousClock().now
                task.cancel()
                let error = await tunnelError {
                    _ = try await withTimeout(seconds: 2, "the cancelled call") { try await task.value }
                }
                let elapsed = secondsSince(start)
                #expect(error?.code == .cancelled, "got \(String(describing: error))")
                #expect(elapsed < 0.5, "cancellation took \(elapsed) s")
                #expect(loop.peer.outstanding == 0)
                #expect(value(of: try await loop.peer.call(BenchMethods.echo, payload(9), timeout: .seconds(5))) == 9)
            }
        }

        @Test("a call in an already cancelled task fails with cancelled without waiting")
        func cancelledBeforeCall() async throws {
            let server = Server()
            try await withLoopback(methods: server.methods()) { loop async throws in
                _ = try await loop.peer.call(BenchMethods.echo, ByteBuffer(), timeout: .seconds(5))
                let task = Task {
                    withUnsafeCurrentTask { $0?.cancel() }
                    return try await loop.peer.call(Self.hang, ByteBuffer(), timeout: .seconds(10))
                }
                let error = await tunnelError { _ = try await withTimeout(seconds: 2, "the cancelled call") { try await task.value } }
                #expect(error?.code == .cancelled, "got \(String(describing: error))")
            }
        }

        @Test("a payload over maxFrameSize fails with frameTooLarge before anything is sent")
        func payloadTooLarge() async throws {
            let server = Server()
            let max = 4096
            try await withLoopback(methods: server.methods(maxFrameSize: max), server: { $0.maxFrameSize = max }, client: { $0.maxFrameSize = max }) { loop async throws in
                // The largest payload that fits: 4096 - 20 header bytes.
                let fits = ByteBuffer(repeating: 1, count: max - 20)
                #expect(try await loop.peer.call(Self.counted, fits, timeout: .seconds(5)) == fits)
                #expect(server.countedArrivals.load(ordering: .relaxed) == 1)

                let start = ContinuousClock().now
                let error = await tunnelError { _ = try await loop.peer.call(Self.counted, ByteBuffer(repeating: 1, count: max - 19), timeout: .seconds(5)) }
                #expect(error?.code == .frameTooLarge, "got \(String(describing: error))")
                #expect(secondsSince(start) < 0.5)
                let oneWay = await tunnelError { try await loop.peer.send(Self.counted, ByteBuffer(repeating: 1, count: max)) }
                #expect(oneWay?.code == .frameTooLarge)

                // Nothing reached the server, and the connection is intact.
                #expect(value(of: try await loop.peer.call(BenchMethods.echo, payload(3), timeout: .seconds(5))) == 3)
                #expect(server.countedArrivals.load(ordering: .relaxed) == 1)
                #expect(loop.server.connectionCount >= 1)
            }
        }

        @Test("an answer over maxFrameSize reaches the caller as frameTooLarge")
        func answerTooLarge() async throws {
            let server = Server()
            let max = 4096
            try await withLoopback(methods: server.methods(maxFrameSize: max), server: { $0.maxFrameSize = max }, client: { $0.maxFrameSize = max }) { loop async throws in
                let error = await tunnelError { _ = try await loop.peer.call(Self.oversizedAnswer, ByteBuffer(), timeout: .seconds(5)) }
                #expect(error?.code == .frameTooLarge, "got \(String(describing: error))")
                #expect(value(of: try await loop.peer.call(BenchMethods.echo, payload(8), timeout: .seconds(5))) == 8)
            }
        }

        @Test("10,000 concurrent calls through one peer (pool of 2) all get their own answer")
        func tenThousandConcurrentCalls() async throws {
            let server = Server()
            try await withLoopback(methods: server.methods(), client: { $0.poolSize = 2 }) { loop async throws in
                // Warm the pool up first: concurrent first calls hit the acquire race tested below.
                _ = try await loop.peer.call(BenchMethods.echo, ByteBuffer(), timeout: .seconds(5))
                let count = 10_000
                let wrong = try await withTimeout(seconds: 60, "10,000 concurrent calls") {
                    try await withThrowingTaskGroup(of: Bool.self) { group in
                        for i in 0..<count {
                            group.addTask {
                                let answer = try await loop.peer.call(BenchMethods.echo, payload(UInt32(i)), timeout: .seconds(30))
                                return value(of: answer) == UInt32(i) && answer.readableBytes == 4
                            }
                        }
                        var wrong = 0
                        var done = 0
                        for try await ok in group {
                            done += 1
                            if !ok { wrong += 1 }
                        }
                        #expect(done == count)
                        return wrong
                    }
                }
                #expect(wrong == 0)
                #expect(loop.peer.outstanding == 0)
                #expect(loop.peer.readyConnections == 2)
                #expect(loop.server.connectionCount == 2)
            }
        }

        /// BUG (ETunnelPeer.acquire): the first caller marks idle slots `.waiting(until: .distantFuture)`
        /// under the lock and only later, in `connect(slot:)`, marks them `.connecting`. A concurrent
        /// caller in between sees no ready, idle or connecting slot and fails at once with
        /// `peerUnavailable: no connection to HOST:PORT` although the dial is under way.
        @Test("concurrent first calls on fresh peers all succeed (no spurious peerUnavailable while dialling)")
        func concurrentFirstCalls() async throws {
            try await withServer(methods: echoMethods()) { server async throws in
                // The race needs two threads running callers at once; keep making fresh peers
                // (at least 50, for at least 3 s) until it shows or the budget is spent.
                var failures: [String] = []
                var rounds = 0
                let start = ContinuousClock().now
                while failures.isEmpty && rounds < 2000 && (rounds < 50 || secondsSince(start) < 3) {
                    rounds += 1
                    let client = ETunnelClient(configuration: makeConfiguration(name: "fresh-\(rounds)") { $0.poolSize = 2 })
                    defer { client.close() }
                    let peer = client.peer(ETunnelEndpoint(host: "127.0.0.1", port: server.port))
                    failures += try await withTimeout(seconds: 20, "concurrent first calls") {
                        await withTaskGroup(of: String?.self) { group in
                            for i in 0..<20 {
                                group.addTask {
                                    do {
                                        let answer = try await peer.call(BenchMethods.echo, payload(UInt32(i)), timeout: .seconds(5))
                                        return value(of: answer) == UInt32(i) ? nil : "wrong answer"
                                    } catch {
                                        return "\(error)"
                                    }
                                }
                            }
                            return await group.reduce(into: [String]()) { if let f = $1 { $0.append(f) } }
                        }
                    }
                }
                #expect(failures.isEmpty, "in round \(rounds), \(failures.count) of 20 concurrent first calls on a fresh peer failed, e.g. \(failures.first ?? "")")
            }
        }
    }
}
