import ETunnel
import Foundation
import NIOCore
import Testing
import TestSupport

extension Integration {
    /// A real peer process (`mmgs-etunnel-bench server`) killed with SIGKILL mid-call.
    @Suite("Peer failure (real process)")
    struct PeerFailureTests {
        static let secret = "peer-failure-secret"

        @Test("SIGKILL mid-call: 50 pending calls fail within 1 s, and the pool reconnects to a new server on the same port")
        func killedPeer() async throws {
            let first = try await BenchServerProcess.start(secret: Self.secret)
            var second: BenchServerProcess?
            let client = ETunnelClient(configuration: makeConfiguration(name: "peer-failure-client", secret: Self.secret) { $0.poolSize = 2 })
            defer {
                client.close()
                first.kill()
                second?.kill()
            }
            let peer = client.peer(ETunnelEndpoint(host: "127.0.0.1", port: first.port))
            let warm = try await withTimeout(seconds: 10, "the first echo") {
                try await peer.call(BenchMethods.echo, payload(7), timeout: .seconds(5))
            }
            #expect(value(of: warm) == 7)

            // 50 calls the server parks forever.
            let calls = Task {
                await withTaskGroup(of: (ETunnelError?, ContinuousClock.Instant).self) { group in
                    for _ in 0..<50 {
                        group.addTask {
                            let error = await tunnelError { _ = try await peer.call(BenchMethods.hang, ByteBuffer(), timeout: .seconds(10)) }
                            return (error, ContinuousClock().now)
                        }
                    }
                    return await group.reduce(into: []) { $0.append($1) }
                }
            }
            #expect(await waitUntil(seconds: 5) { peer.outstanding == 50 }, "outstanding \(peer.outstanding)")
            try await Task.sleep(for: .milliseconds(100))  // let the requests reach the server

            let killedAt = ContinuousClock().now
            #expect(kill(first.pid, SIGKILL) == 0)
            let results = try await withTimeout(seconds: 5, "the 50 calls to fail after the kill") { await calls.value }
            #expect(results.count == 50)
            var slowest = 0.0
            for (error, at) in results {
                let code = error?.code
                #expect(code == .connectionClosed || code == .deadPeer, "expected connectionClosed/deadPeer, got \(String(describing: error))")
                let after = Double((at - killedAt).components.attoseconds) / 1e18 + Double((at - killedAt).components.seconds)
                slowest = max(slowest, after)
            }
            #expect(slowest < 1.0, "the last call failed \(slowest) s after the kill")
            #expect(await first.process.waitForExit(seconds: 2))
            #expect(peer.outstanding == 0)

            // A new server on the same port: the same peer reconnects by itself.
            let restartedAt = ContinuousClock().now
            let successor = try await BenchServerProcess.start(port: first.port, secret: Self.secret)
            second = successor
            #expect(successor.port == first.port)
            var reconnected = false
            var lastError: (any Error)?
            while secondsSince(restartedAt) < 5 {
                do {
                    let answer = try await withTimeout(seconds: 2, "an echo to the restarted server") {
                        try await peer.call(BenchMethods.echo, payload(8), timeout: .seconds(1))
                    }
                    #expect(value(of: answer) == 8)
                    reconnected = true
                    break
                } catch {
                    lastError = error
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            #expect(reconnected, "no echo within 5 s of the restart; last error: \(String(describing: lastError))")
            print("peer-failure: calls failed \(String(format: "%.3f", slowest)) s after SIGKILL; reconnected \(String(format: "%.3f", secondsSince(restartedAt))) s after restart")
            successor.kill()
            #expect(await successor.process.waitForExit(seconds: 2))
        }
    }
}
