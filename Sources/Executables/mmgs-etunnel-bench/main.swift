// mmgs-etunnel-bench: an eTunnel peer for tests (`server`) and the eTunnel benchmark
// (`oneway`, `calls`) between two processes. Results: docs/performance.md.
import ArgumentParser
import ETunnel
import Foundation
import Histogram
import Logging
import NIOCore
import NIOPosix
import Synchronization

@main
struct ETunnelBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmgs-etunnel-bench",
        abstract: "eTunnel benchmark and test peer.",
        subcommands: [Server.self, OneWay.self, Calls.self])
}

struct Common: ParsableArguments {
    @Option(help: "Cluster secret shared by both processes.")
    var secret = "bench-secret"
    @Option(help: "Largest frame in bytes.")
    var maxFrameSize = 1 << 20
    @Option(help: "Receive window (frames) granted to the peer.")
    var window: UInt32 = 4096

    func configuration(name: String) -> ETunnelConfiguration {
        var configuration = ETunnelConfiguration(nodeName: name, clusterSecret: secret)
        configuration.maxFrameSize = maxFrameSize
        configuration.receiveWindow = window
        configuration.poolSize = 1
        return configuration
    }
}

extension ETunnelBench {
    struct Server: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Serve echo, sink, hang and stats; print 'listening PORT'.")
        @OptionGroup var common: Common
        @Option var host = "127.0.0.1"
        @Option var port = 0

        func run() async throws {
            let received = Atomic<UInt64>(0)
            let hung = Mutex<[IncomingCall]>([])
            var methods = ETunnelMethods()
            methods.register(BenchMethods.echo) { call in call.respond(call.payload) }
            methods.register(BenchMethods.sink) { _ in received.wrappingAdd(1, ordering: .relaxed) }
            methods.register(BenchMethods.hang) { call in hung.withLock { $0.append(call) } }
            methods.register(BenchMethods.stats) { call in
                var buffer = call.allocator.buffer(capacity: 8)
                buffer.writeInteger(received.load(ordering: .relaxed))
                call.respond(buffer)
            }
            let server = try await ETunnelServer.start(host: host, port: port, configuration: common.configuration(name: "bench-server"), methods: methods)
            print("listening \(server.port)")
            fflush(nil)
            while true { try await Task.sleep(for: .seconds(3600)) }
        }
    }

    struct OneWay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "oneway", abstract: "One-way messages per second on one connection.")
        @OptionGroup var common: Common
        @Option(help: "HOST:PORT of a bench server.") var target: String
        @Option var seconds = 5.0
        @Option var size = 200

        func run() async throws {
            guard let endpoint = ETunnelEndpoint(target) else { throw ValidationError("--target must be HOST:PORT, got '\(target)'") }
            let client = ETunnelClient(configuration: common.configuration(name: "bench-client"))
            let peer = client.peer(endpoint)
            let before = try await received(peer)
            let payload = ByteBuffer(repeating: 0x61, count: size)
            let clock = ContinuousClock()
            let start = clock.now
            let end = start + .seconds(seconds)
            var sent: UInt64 = 0
            while clock.now < end {
                for _ in 0..<256 { try await peer.send(BenchMethods.sink, payload) }
                sent += 256
            }
            // Wait until the receiver has seen every message, then time the whole transfer.
            var got = try await received(peer) - before
            while got < sent { try await Task.sleep(for: .milliseconds(1)); got = try await received(peer) - before }
            let elapsed = (clock.now - start).milliseconds / 1000
            let rate = Double(got) / elapsed
            let mbps = rate * Double(size + 20) / 1e6
            print(String(format: "oneway size=%d messages=%llu seconds=%.2f rate=%.0f msg/s wire=%.1f MB/s", size, got, elapsed, rate, mbps))
            print(#"{"scenario":"oneway","size":\#(size),"messages":\#(got),"seconds":\#(elapsed),"rate":\#(Int(rate))}"#)
            client.close()
        }

        func received(_ peer: ETunnelPeer) async throws -> UInt64 {
            var answer = try await peer.call(BenchMethods.stats, ByteBuffer())
            return answer.readInteger(as: UInt64.self) ?? 0
        }
    }

    struct Calls: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Request/response calls per second with N in flight, p50/p99 latency.")
        @OptionGroup var common: Common
        @Option(help: "HOST:PORT of a bench server.") var target: String
        @Option var seconds = 5.0
        @Option var inflight = 64
        @Option var size = 200

        func run() async throws {
            guard let endpoint = ETunnelEndpoint(target) else { throw ValidationError("--target must be HOST:PORT, got '\(target)'") }
            let client = ETunnelClient(configuration: common.configuration(name: "bench-client"))
            let peer = client.peer(endpoint)
            _ = try await peer.call(BenchMethods.echo, ByteBuffer())
            let payload = ByteBuffer(repeating: 0x61, count: size)
            let clock = ContinuousClock()
            let start = clock.now
            let end = start + .seconds(seconds)
            let merged = try await withThrowingTaskGroup(of: Histogram<UInt64>.self) { group in
                for _ in 0..<inflight {
                    group.addTask {
                        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
                        while clock.now < end {
                            let t0 = clock.now
                            _ = try await peer.call(BenchMethods.echo, payload)
                            histogram.record(UInt64((clock.now - t0).nanoseconds))
                        }
                        return histogram
                    }
                }
                var merged = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
                for try await histogram in group { merged.add(histogram) }
                return merged
            }
            let elapsed = (clock.now - start).milliseconds / 1000
            let rate = Double(merged.totalCount) / elapsed
            let p50 = Double(merged.valueAtPercentile(50)) / 1000, p99 = Double(merged.valueAtPercentile(99)) / 1000
            print(String(format: "calls inflight=%d calls=%llu seconds=%.2f rate=%.0f calls/s p50=%.0fus p99=%.0fus max=%.0fus",
                         inflight, merged.totalCount, elapsed, rate, p50, p99, Double(merged.max) / 1000))
            print(#"{"scenario":"calls","inflight":\#(inflight),"calls":\#(merged.totalCount),"seconds":\#(elapsed),"rate":\#(Int(rate)),"p50_us":\#(p50),"p99_us":\#(p99)}"#)
            client.close()
        }
    }
}
