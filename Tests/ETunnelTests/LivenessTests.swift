import ETunnel
import Foundation
import NIOCore
import Testing
import TestSupport

extension Integration {
    /// Heartbeats keep idle connections alive; a peer that stops sending is declared dead.
    @Suite("Liveness")
    struct LivenessTests {
        @Test("an idle connection outlives deadPeerTimeout thanks to heartbeats")
        func idleConnectionSurvives() async throws {
            let fast: (inout ETunnelConfiguration) -> Void = {
                $0.heartbeatInterval = .milliseconds(100)
                $0.deadPeerTimeout = .milliseconds(500)
                $0.poolSize = 1
            }
            try await withLoopback(methods: echoMethods(), server: fast, client: fast) { loop async throws in
                _ = try await loop.peer.call(BenchMethods.echo, ByteBuffer(), timeout: .seconds(5))
                let start = ContinuousClock().now
                var drops = 0
                while secondsSince(start) < 1.5 {  // three dead-peer timeouts of silence from the caller
                    if loop.peer.readyConnections != 1 || loop.server.connectionCount != 1 { drops += 1 }
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(drops == 0, "the idle connection dropped")
                #expect(value(of: try await loop.peer.call(BenchMethods.echo, payload(1), timeout: .seconds(2))) == 1)
            }
        }

        @Test("a frozen peer (SIGSTOP, real process) is declared dead: pending calls fail with deadPeer")
        func frozenPeer() async throws {
            let secret = "liveness-secret"
            let server = try await BenchServerProcess.start(secret: secret)
            let client = ETunnelClient(configuration: makeConfiguration(name: "liveness-client", secret: secret) {
                $0.heartbeatInterval = .milliseconds(100)
                $0.deadPeerTimeout = .seconds(1)  // the bench server sends a heartbeat every 500 ms
                $0.poolSize = 1
            })
            defer {
                client.close()
                server.kill()
            }
            let peer = client.peer(ETunnelEndpoint(host: "127.0.0.1", port: server.port))
            _ = try await withTimeout(seconds: 10, "the first echo") { try await peer.call(BenchMethods.echo, ByteBuffer(), timeout: .seconds(5)) }
            let calls = Task {
                await withTaskGroup(of: ETunnelError?.self) { group in
                    for _ in 0..<10 {
                        group.addTask { await tunnelError { _ = try await peer.call(BenchMethods.hang, ByteBuffer(), timeout: .seconds(10)) } }
                    }
                    return await group.reduce(into: []) { $0.append($1) }
                }
            }
            #expect(await waitUntil(seconds: 3) { peer.outstanding == 10 })
            try await Task.sleep(for: .milliseconds(100))
            let frozenAt = ContinuousClock().now
            #expect(kill(server.pid, SIGSTOP) == 0)
            let errors = try await withTimeout(seconds: 6, "the calls to a frozen peer") { await calls.value }
            let elapsed = secondsSince(frozenAt)
            for error in errors { #expect(error?.code == .deadPeer, "got \(String(describing: error))") }
            #expect(elapsed > 0.4 && elapsed < 2.5, "declared dead after \(elapsed) s (deadPeerTimeout 1 s)")
            print("liveness: frozen peer declared dead after \(String(format: "%.3f", elapsed)) s")
            server.kill()
            #expect(await server.process.waitForExit(seconds: 2))
        }
    }
}
