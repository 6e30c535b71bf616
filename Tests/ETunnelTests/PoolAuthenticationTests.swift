import ETunnel
import NIOCore
import Testing
import TestSupport

extension Integration {
    /// The authenticated handshake end to end, through `ETunnelClient`'s pool.
    @Suite("Pool authentication")
    struct PoolAuthenticationTests {
        @Test("a client with a different secret: calls fail naming the secret; the server counts no connection")
        func wrongSecret() async throws {
            try await withLoopback(methods: echoMethods(), client: { $0.clusterSecret = Array("some-other-secret".utf8) }) { loop async throws in
                for attempt in 0..<3 {
                    let start = ContinuousClock().now
                    let error = await tunnelError {
                        _ = try await withTimeout(seconds: 10, "a call with the wrong secret") {
                            try await loop.peer.call(BenchMethods.echo, payload(1), timeout: .seconds(3))
                        }
                    }
                    let code = try #require(error?.code, "the call did not fail with an ETunnelError")
                    #expect([ETunnelError.Code.peerUnavailable, .authenticationFailed].contains(code), "attempt \(attempt): \(error!)")
                    #expect(error!.message.contains("secret"), "attempt \(attempt): the message should say why: \(error!)")
                    #expect(secondsSince(start) < 3, "fails fast rather than at the call deadline")
                    #expect(loop.server.connectionCount == 0)
                    #expect(loop.peer.readyConnections == 0)
                    try await Task.sleep(for: .milliseconds(150))  // let the pool retry in the background
                }
                #expect(loop.server.connectionCount == 0)
            }
        }

        @Test("the right secret as bytes or as a string authenticates the same")
        func secretForms() async throws {
            try await withLoopback(methods: echoMethods(), client: { $0.clusterSecret = Array(testSecret.utf8) }) { loop async throws in
                let answer = try await loop.peer.call(BenchMethods.echo, payload(2), timeout: .seconds(5))
                #expect(value(of: answer) == 2)
                #expect(await waitUntil(seconds: 2) { loop.server.connectionCount >= 1 })
            }
        }

        @Test("the server sees the client's authenticated name")
        func peerName() async throws {
            let whoAmI = MethodID(service: 0x0003, method: 1)
            let methods = echoMethods { $0.register(whoAmI) { call in
                var buffer = call.allocator.buffer(capacity: 32)
                buffer.writeString(call.peerName)
                call.respond(buffer)
            } }
            try await withLoopback(methods: methods) { loop async throws in
                let answer = try await loop.peer.call(whoAmI, ByteBuffer(), timeout: .seconds(5))
                #expect(answer.getString(at: 0, length: answer.readableBytes) == "test-client")
            }
        }
    }
}
