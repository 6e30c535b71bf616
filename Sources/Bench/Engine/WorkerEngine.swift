import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#endif

/// The generator of one process: an event-loop group, one ``LoopShard`` per loop, and this
/// process's share of the devices spread over the shards. It answers ``WorkerCommand``s, which
/// is all the coordinator needs whether the engine runs in-process or in a worker process.
public final class WorkerEngine: Sendable {
    public let configuration: BenchConfiguration
    public let share: WorkerShare
    let group: MultiThreadedEventLoopGroup
    let shards: [LoopShard]

    public init(configuration: BenchConfiguration, share: WorkerShare) throws {
        self.configuration = configuration
        self.share = share
        let threads = configuration.threads > 0 ? configuration.threads : System.coreCount
        group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        var tls: NIOSSLContext?
        if configuration.startTLS {
            var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
            // Test servers use self-signed certificates; the benchmark measures load, not PKI.
            tlsConfiguration.certificateVerification = .none
            tls = try NIOSSLContext(configuration: tlsConfiguration)
        }
        let mine = Array(share.devices(of: configuration.devices))
        let jids = JIDTable(configuration)
        let loops = Array(group.makeIterator())
        shards = loops.indices.map { l in
            LoopShard(loop: loops[l], configuration: configuration,
                      devices: stride(from: l, to: mine.count, by: loops.count).map { mine[$0] },
                      jids: jids, tls: tls)
        }
    }

    /// The part of a global rate that a shard's devices carry.
    private func rate(_ global: Double, for shard: LoopShard) -> Double {
        configuration.devices > 0 ? global * Double(shard.devices.count) / Double(configuration.devices) : 0
    }

    public func handle(_ command: WorkerCommand) async -> WorkerReply {
        do {
            switch command {
            case .connect(let startNs, let rate):
                let stats = try await everyShard { shard in
                    shard.startConnecting(startNs: startNs, rate: self.rate(rate, for: shard)).map { shard.connectSnapshot() }
                }
                var merged = ConnectStats()
                for stats in stats { merged.merge(stats) }
                return .connected(merged)
            case .disconnect:
                _ = try await everyShard { $0.closeAll() }
                return .disconnected
            case .chatStep(let step, let startNs, let rate, let seconds):
                _ = try await everyShard { shard in
                    shard.startChat(step: step, startNs: startNs, rate: self.rate(rate, for: shard), seconds: seconds)
                }
                // Sent counts are read without removing the step (deliveries are still arriving).
                let counts = try await everyShard { shard in
                    shard.loop.makeSucceededFuture(shard.peekSent(step: step))
                }
                return .sent(sent: counts.reduce(0) { $0 + $1.sent }, notSent: counts.reduce(0) { $0 + $1.notSent })
            case .progress(let step):
                let counts = try await everyShard { shard in shard.loop.makeSucceededFuture(shard.receivedCount(step: step)) }
                return .progress(received: counts.reduce(0, +))
            case .collect(let step):
                let stats = try await everyShard { shard in shard.loop.makeSucceededFuture(shard.collect(step: step)) }
                var merged = ChatShardStats()
                for stats in stats { merged.merge(stats) }
                return .collected(merged)
            case .status:
                let statuses = try await everyShard { shard in shard.loop.makeSucceededFuture(shard.status()) }
                var merged = ShardStatus()
                for status in statuses { merged.merge(status) }
                return .status(merged)
            case .shutdown:
                _ = try await everyShard { $0.closeAll() }
                try await group.shutdownGracefully()
                return .stopped
            }
        } catch {
            return .failed("\(error)")
        }
    }

    /// Runs `body` on every shard's loop and waits for all results.
    private func everyShard<T: Sendable>(_ body: @escaping @Sendable (LoopShard) -> EventLoopFuture<T>) async throws -> [T] {
        let futures = shards.map { shard in shard.loop.flatSubmit { body(shard) } }
        var results: [T] = []
        for future in futures { results.append(try await future.get()) }
        return results
    }
}

/// The engine of this process as a ``WorkerLink``.
public struct LocalWorkerLink: WorkerLink {
    public let engine: WorkerEngine
    public init(engine: WorkerEngine) { self.engine = engine }
    public var pid: Int32 { getpid() }
    public func call(_ command: WorkerCommand) async throws -> WorkerReply { await engine.handle(command) }
}
