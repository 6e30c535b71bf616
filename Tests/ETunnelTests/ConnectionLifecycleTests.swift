@testable import ETunnel
import NIOCore
import Testing
import TestSupport

extension Integration {
    /// Closing servers and pools, and deadlines while a connection is being set up.
    @Suite("Connection lifecycle")
    struct ConnectionLifecycleTests {
        @Test("closing the server fails the client's pending calls promptly; later calls fail fast")
        func serverClose() async throws {
            let parked = ParkedCalls()
            let methods = echoMethods { $0.register(BenchMethods.hang) { parked.arrive($0) } }
            try await withLoopback(methods: methods) { loop async throws in
                _ = try await loop.peer.call(BenchMethods.echo, ByteBuffer(), timeout: .seconds(5))
                let calls = Task {
                    await withTaskGroup(of: ETunnelError?.self) { group in
                        for _ in 0..<10 {
                            group.addTask { await tunnelError { _ = try await loop.peer.call(BenchMethods.hang, ByteBuffer(), timeout: .seconds(10)) } }
                        }
                        return await group.reduce(into: []) { $0.append($1) }
                    }
                }
                #expect(await waitUntil(seconds: 3) { parked.arrived == 10 })
                let start = ContinuousClock().now
                await loop.server.close()
                let errors = try await withTimeout(seconds: 3, "pending calls after the server closed") { await calls.value }
                #expect(secondsSince(start) < 1)
                for error in errors {
                    #expect(error?.code == .connectionClosed || error?.code == .shuttingDown, "got \(String(describing: error))")
                }
                #expect(loop.server.connectionCount == 0)
                let later = await tunnelError {
                    _ = try await withTimeout(seconds: 5, "a call after the server closed") {
                        try await loop.peer.call(BenchMethods.echo, ByteBuffer(), timeout: .seconds(2))
                    }
                }
                // Every connection is gone: any prompt failure is right (connectionClosed when the
                // pool still hands out the closed connection, see `oneOfTwoConnectionsDies`;
                // shuttingDown when the call reached the server while its close was running).
                #expect([ETunnelError.Code.peerUnavailable, .timedOut, .connectionClosed, .shuttingDown].contains(later?.code ?? .init(rawValue: 0)), "got \(String(describing: later))")
            }
        }

        @Test("closing the pool fails its pending calls with shuttingDown, and every later call")
        func poolClose() async throws {
            let parked = ParkedCalls()
            let methods = echoMethods { $0.register(BenchMethods.hang) { parked.arrive($0) } }
            try await withLoopback(methods: methods) { loop async throws in
                _ = try await loop.peer.call(BenchMethods.echo, ByteBuffer(), timeout: .seconds(5))
                let pending = Task { await tunnelError { _ = try await loop.peer.call(BenchMethods.hang, ByteBuffer(), timeout: .seconds(10)) } }
                #expect(await waitUntil(seconds: 3) { parked.arrived == 1 })
                loop.peer.close()
                let error = try await withTimeout(seconds: 2, "the pending call after close") { await pending.value }
                #expect(error?.code == .shuttingDown, "got \(String(describing: error))")
                let later = await tunnelError { _ = try await loop.peer.call(BenchMethods.echo, ByteBuffer(), timeout: .seconds(1)) }
                #expect(later?.code == .shuttingDown)
                let laterSend = await tunnelError { try await loop.peer.send(BenchMethods.echo, ByteBuffer()) }
                #expect(laterSend?.code == .shuttingDown)
                #expect(await waitUntil(seconds: 2) { loop.server.connectionCount == 0 }, "the server saw the connections close")
            }
        }

        /// A connection cut by the network (through a proxy) while calls are pending on both
        /// connections of a pool: the calls on it fail, and a retry made at once must go to the live
        /// connection. (Guards the pool's choice of connection: since "lock-free pool selection" a
        /// `.ready` slot is used without checking `core.isClosed`, and a closed core reports
        /// `outstanding == 0`, so it would be preferred until its closeFuture callback runs.)
        @Test("when one of two connections dies, calls retried at once go to the live one")
        func oneOfTwoConnectionsDies() async throws {
            let parked = ParkedCalls()
            let methods = echoMethods { $0.register(BenchMethods.hang) { parked.arrive($0) } }
            let server = try await ETunnelServer.start(
                host: "127.0.0.1", port: 0, configuration: makeConfiguration(name: "test-server"), methods: methods)
            let proxy = try await TCPProxy.start(targetPort: server.port)
            let client = ETunnelClient(configuration: makeConfiguration(name: "test-client") { $0.poolSize = 2 })
            let peer = client.peer(ETunnelEndpoint(host: "127.0.0.1", port: proxy.port))
            func stop() async {
                client.close(); await proxy.close(); await server.close()
            }
            do {
                _ = try await peer.call(BenchMethods.echo, ByteBuffer(), timeout: .seconds(5))
                #expect(await waitUntil(seconds: 3) { peer.readyConnections == 2 && proxy.connectionCount == 2 })

                // 20 parked calls spread over both connections; a caller whose call fails retries once.
                let outcomes = Task {
                    await withTaskGroup(of: String.self) { group in
                        for i in UInt32(0)..<20 {
                            group.addTask {
                                do {
                                    _ = try await peer.call(BenchMethods.hang, payload(i), timeout: .seconds(10))
                                    return "ok"
                                } catch {
                                    do {
                                        _ = try await peer.call(BenchMethods.echo, payload(i), timeout: .seconds(3))
                                        return "retried ok"
                                    } catch {
                                        return "retry failed: \(error)"
                                    }
                                }
                            }
                        }
                        return await group.reduce(into: [String]()) { $0.append($1) }
                    }
                }
                #expect(await waitUntil(seconds: 3) { parked.arrived == 20 })
                await proxy.cut(0)
                #expect(await waitUntil(seconds: 3) { peer.outstanding < 20 && peer.readyConnections <= 1 })
                try await Task.sleep(for: .milliseconds(300))
                parked.releaseAll()
                let results = try await withTimeout(seconds: 10, "the 20 calls") { await outcomes.value }
                let retried = results.filter { $0 != "ok" }
                #expect(!retried.isEmpty, "some calls were on the cut connection")
                let failedRetries = retried.filter { $0 != "retried ok" }
                #expect(failedRetries.isEmpty, "\(failedRetries.count) of \(retried.count) immediate retries failed, e.g. \(failedRetries.first ?? "")")
            } catch {
                await stop()
                throw error
            }
            await stop()
        }

        /// BUG (ETunnelPeer.acquire): while a slot is `.connecting`, acquire awaits
        /// `future.get()` with no regard for the call's deadline (nor for task cancellation); the
        /// call returns only when the connect/handshake itself gives up (handshakeTimeout, 2 s
        /// here), as `timedOut` or `peerUnavailable` depending on which slot failed first.
        @Test("a call's deadline holds while the connection is still in its handshake")
        func deadlineWhileHandshaking() async throws {
            let silent = try await SilentTCPServer.start()
            let client = ETunnelClient(configuration: makeConfiguration(name: "impatient") { $0.handshakeTimeout = .seconds(2) })
            defer { client.close() }
            let peer = client.peer(ETunnelEndpoint(host: "127.0.0.1", port: silent.port))
            let start = ContinuousClock().now
            let error = await tunnelError {
                _ = try await withTimeout(seconds: 5, "a 200 ms call to a peer that never answers the handshake") {
                    try await peer.call(BenchMethods.echo, ByteBuffer(), timeout: .milliseconds(200))
                }
            }
            let elapsed = secondsSince(start)
            await silent.close()
            #expect(error?.code == .timedOut, "got \(String(describing: error)) after \(elapsed) s")
            #expect(elapsed < 1, "the 200 ms call took \(elapsed) s")
        }

        /// BUG (ETunnelServer.close): only established connections (the `connections` registry)
        /// are closed. A connection still in its handshake survives, completes the handshake
        /// afterwards, is added to the registry of the closed server and serves calls.
        @Test("closing the server also closes a connection that is still in its handshake")
        func serverCloseDuringHandshake() async throws {
            let server = try await ETunnelServer.start(
                host: "127.0.0.1", port: 0, configuration: makeConfiguration(name: "test-server"), methods: echoMethods())
            let raw = try await RawTCPClient.connect(port: server.port)
            var client = HandshakeStateMachine(role: .client, localName: "late", secret: Array(testSecret.utf8), receiveWindow: 16)
            var out = ByteBuffer()
            guard case .send(let helloKind, let hello) = client.start(nonce: HandshakeStateMachine.randomNonce()) else {
                Issue.record("no HELLO"); return
            }
            out.writeETunnelFrame(kind: helloKind, payload: hello)
            await raw.send(out)
            let challenge = try #require(try await raw.nextFrame(seconds: 2))
            #expect(challenge.kind == .challenge)

            await server.close()

            // Finish the handshake with the right secret, as a legitimate node would.
            guard case .send(let authKind, let auth) = client.receive(challenge, nonce: { [] }) else {
                Issue.record("no AUTH"); return
            }
            out = ByteBuffer()
            out.writeETunnelFrame(kind: authKind, payload: auth)
            await raw.send(out)

            // Behave like a live node for a second: heartbeats, then one echo request.
            var received: [FrameKind] = []
            var countWhileOpen = 0
            let start = ContinuousClock().now
            while secondsSince(start) < 1, !raw.isClosed {
                var heartbeat = ByteBuffer()
                heartbeat.writeETunnelFrame(kind: .heartbeat, payload: ByteBuffer())
                await raw.send(heartbeat)
                while let frame = try? await raw.nextFrame(seconds: 0.2) { received.append(frame.kind) }
                countWhileOpen = max(countWhileOpen, server.connectionCount)
            }
            if !raw.isClosed {
                var request = ByteBuffer()
                request.writeETunnelFrame(kind: .request, correlationID: 1, method: BenchMethods.echo.rawValue, payload: payload(5))
                await raw.send(request)
                while let frame = try? await raw.nextFrame(seconds: 0.3) { received.append(frame.kind) }
            }
            let closed = raw.isClosed
            await raw.close()
            #expect(closed, "the connection is still open 1 s after the server closed; it received \(received)")
            #expect(!received.contains(.ready), "the closed server completed a handshake")
            #expect(!received.contains(.response), "the closed server answered a call")
            #expect(countWhileOpen == 0, "the closed server counted \(countWhileOpen) connection(s)")
        }
    }
}
