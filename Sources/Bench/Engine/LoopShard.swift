import NIOCore
import NIOPosix
import NIOSSL

/// The devices of one event loop, with their schedules and statistics.
///
/// Confinement instead of locks: a shard, its devices' channels and their handlers all belong to
/// one event loop, and everything here runs on it (the engine reaches it through
/// `loop.submit`/`flatSubmit`). That is why it is `@unchecked Sendable`, and why the hot paths
/// (a send, a delivery) are plain property updates. Each loop paces its own devices on its own
/// open-loop schedule, so sending never hops threads.
final class LoopShard: @unchecked Sendable {
    let loop: any EventLoop
    let configuration: BenchConfiguration
    /// Global index of each local device (slot).
    let devices: [Int]
    let jids: JIDTable
    private let tls: NIOSSLContext?

    struct Slot {
        enum State { case idle, connecting, ready, failed, closed }
        var state = State.idle
        var channel: (any Channel)?
        var scheduledNs: UInt64 = 0
        var timeout: Scheduled<Void>?
        /// Chat: next sequence number towards each neighbour.
        var sequences: [UInt64]
        /// Chat: what this device received, per sender.
        var trackers: [Int: SequenceTracker] = [:]
    }

    private(set) var slots: [Slot]

    // Login phase.
    private var connectSchedule: OpenLoopSchedule?
    private var connectStats = ConnectStats()
    private var terminal = 0
    private var connectDone: EventLoopPromise<Void>?

    // Established phase.
    private var disconnects: [String: Int] = [:]
    private var messageErrors = 0

    // Chat.
    private var chatSchedule: OpenLoopSchedule?
    private var chatStep = 0
    private var chatDone: EventLoopPromise<Void>?
    private var steps: [Int: ChatShardStats] = [:]
    /// Steps already collected: a message of one of these arriving now is late. A message of a
    /// step this shard has not started yet (its sender's shard started first) is not.
    private var collected: Set<Int> = []
    private var lateAfterCollect = 0

    init(loop: any EventLoop, configuration: BenchConfiguration, devices: [Int], jids: JIDTable, tls: NIOSSLContext?) {
        self.loop = loop
        self.configuration = configuration
        self.devices = devices
        self.jids = jids
        self.tls = tls
        self.slots = devices.map { _ in Slot(sequences: Array(repeating: 0, count: max(1, configuration.neighbours))) }
    }

    func tlsContext() throws -> NIOSSLContext {
        guard let tls else { throw NIOSSLError.failedToLoadCertificate }
        return tls
    }

    // MARK: Login

    /// Connects every device of this shard at `rate` devices/s from `startNs`; the future
    /// completes when each one is ready or has failed.
    func startConnecting(startNs: UInt64, rate: Double) -> EventLoopFuture<Void> {
        loop.preconditionInEventLoop()
        connectStats = ConnectStats()
        terminal = 0
        let promise = loop.makePromise(of: Void.self)
        connectDone = promise
        connectSchedule = OpenLoopSchedule(startNs: startNs, rate: max(rate, 1e-6), count: slots.count)
        if slots.isEmpty { promise.succeed() } else { connectTick() }
        return promise.futureResult
    }

    private func connectTick() {
        guard var schedule = connectSchedule else { return }
        let now = MonotonicClock.now()
        for slot in schedule.due(at: now) {
            let scheduled = schedule.time(of: slot)
            connectStats.lag.record(nanoseconds: schedule.lagNs(of: slot, at: now))
            connect(slot: slot, scheduledNs: scheduled)
        }
        connectSchedule = schedule
        if let next = schedule.nextDueNs {
            let wait = next > now ? Int64(next - now) : 0
            loop.scheduleTask(in: .nanoseconds(wait)) { self.connectTick() }
        }
    }

    private func connect(slot: Int, scheduledNs: UInt64) {
        let index = devices[slot]
        slots[slot].state = .connecting
        slots[slot].scheduledNs = scheduledNs
        slots[slot].trackers = [:]
        connectStats.attempted += 1
        connectStats.firstStartNs = min(connectStats.firstStartNs, scheduledNs)
        let timeout = configuration.loginTimeout
        slots[slot].timeout = loop.scheduleTask(in: .nanoseconds(Int64(timeout * 1e9))) {
            guard self.slots[slot].state == .connecting else { return }
            self.deviceFailed(slot: slot, LoginFailure(.timeout, "login", text: "not ready after \(timeout) s"))
            self.slots[slot].channel?.close(promise: nil)
        }
        let target = configuration.target(for: index)
        let options = configuration.login(index)
        var bootstrap = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(.nanoseconds(Int64(timeout * 1e9)))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    self.slots[slot].channel = channel
                    try channel.pipeline.syncOperations.addHandler(DeviceHandler(shard: self, slot: slot, options: options))
                }
            }
        if let source = configuration.sourceAddress(for: index) {
            do {
                bootstrap = bootstrap
                    // IP_BIND_ADDRESS_NO_PORT (Linux): the port is picked at connect() by the
                    // 4-tuple instead of by bind() searching every port of the address, which
                    // grows quadratic over a ramp of tens of thousands of connections.
                    .channelOption(ChannelOptions.ipOption(.init(rawValue: 24)), value: 1)
                    .bind(to: try SocketAddress(ipAddress: source, port: 0))
            } catch {
                deviceFailed(slot: slot, LoginFailure(.connect, "bad-source-address", text: "\(source): \(error)"))
                return
            }
        }
        // An IP literal is connected to directly: the resolver (getaddrinfo on a thread pool,
        // an A and an AAAA query per connection) would queue up under a ramp of thousands/s.
        let connecting: EventLoopFuture<any Channel>
        if let address = try? SocketAddress(ipAddress: target.host, port: target.port) {
            connecting = bootstrap.connect(to: address)
        } else {
            connecting = bootstrap.connect(host: target.host, port: target.port)
        }
        connecting.whenFailure { error in
            let described = ConnectError.describe(error)
            self.deviceFailed(slot: slot, LoginFailure(.connect, described.condition, text: described.text))
        }
    }

    func deviceReady(slot: Int, jid: String) {
        guard slots[slot].state == .connecting else { return }
        let now = MonotonicClock.now()
        slots[slot].state = .ready
        slots[slot].timeout?.cancel()
        connectStats.connected += 1
        connectStats.latency.record(nanoseconds: now > slots[slot].scheduledNs ? now - slots[slot].scheduledNs : 0)
        connectStats.lastReadyNs = max(connectStats.lastReadyNs, now)
        finishOne()
    }

    func deviceFailed(slot: Int, _ failure: LoginFailure) {
        guard slots[slot].state == .connecting || slots[slot].state == .idle else { return }
        slots[slot].state = .failed
        slots[slot].timeout?.cancel()
        connectStats.record(failure)
        finishOne()
    }

    private func finishOne() {
        terminal += 1
        if terminal == slots.count, connectSchedule?.isFinished ?? true {
            connectDone?.succeed()
            connectDone = nil
        }
    }

    func connectSnapshot() -> ConnectStats { connectStats }

    // MARK: Established

    func deviceDisconnected(slot: Int, reason: String) {
        guard slots[slot].state == .ready else { return }
        slots[slot].state = .closed
        disconnects[reason, default: 0] += 1
    }

    func messageError(slot: Int) {
        messageErrors += 1
    }

    var connectedCount: Int { slots.reduce(0) { $0 + ($1.state == .ready ? 1 : 0) } }

    func status() -> ShardStatus {
        ShardStatus(connected: connectedCount, disconnects: disconnects, messageErrors: messageErrors, lateMessages: lateAfterCollect)
    }

    /// Ends every stream politely (`</stream:stream>`) and closes; completes when all are closed.
    func closeAll() -> EventLoopFuture<Void> {
        var futures: [EventLoopFuture<Void>] = []
        for slot in slots.indices {
            slots[slot].timeout?.cancel()
            if slots[slot].state == .ready || slots[slot].state == .connecting { slots[slot].state = .closed }
            guard let channel = slots[slot].channel else { continue }
            slots[slot].channel = nil
            if channel.isActive {
                var buffer = channel.allocator.buffer(capacity: 16)
                buffer.writeStaticString("</stream:stream>")
                channel.writeAndFlush(buffer, promise: nil)
            }
            channel.close(promise: nil)
            futures.append(channel.closeFuture)
        }
        disconnects = [:]
        return EventLoopFuture.andAllComplete(futures, on: loop)
    }

    // MARK: Chat

    /// Sends this shard's share of a chat step: operation `k` is sent by local device
    /// `k % slots`, to its neighbour `1 + (k / slots) % neighbours`. Completes when the schedule
    /// has run out (deliveries are not waited for).
    func startChat(step: Int, startNs: UInt64, rate: Double, seconds: Double) -> EventLoopFuture<Void> {
        loop.preconditionInEventLoop()
        chatStep = step
        steps[step] = steps[step] ?? ChatShardStats()
        let promise = loop.makePromise(of: Void.self)
        let count = rate > 0 && !slots.isEmpty ? OpenLoopSchedule.operations(rate: rate, seconds: seconds) : 0
        chatSchedule = OpenLoopSchedule(startNs: startNs, rate: max(rate, 1e-6), count: count)
        chatDone = promise
        chatTick()
        return promise.futureResult
    }

    private func chatTick() {
        guard var schedule = chatSchedule else { return }
        let due = schedule.due(at: MonotonicClock.now())
        chatSchedule = schedule
        // Taken out of the dictionary, not copied: a copy would share the histograms' storage,
        // and the first record below would then copy every histogram, every tick.
        var stats = steps.removeValue(forKey: chatStep) ?? ChatShardStats()
        var touched: [Int] = []
        for k in due {
            let slot = k % slots.count
            let turn = k / slots.count
            guard slots[slot].state == .ready, let channel = slots[slot].channel else {
                stats.notSent += 1
                continue
            }
            let sender = devices[slot]
            let receiver = configuration.receiver(of: sender, turn: turn)
            let neighbour = turn % slots[slot].sequences.count
            let sequence = slots[slot].sequences[neighbour]
            slots[slot].sequences[neighbour] += 1
            let now = MonotonicClock.now()
            let body = ChatBody(step: chatStep, sender: sender, sequence: sequence, scheduledNs: schedule.time(of: k), sentNs: now)
            var buffer = channel.allocator.buffer(capacity: 128 + configuration.bodySize)
            buffer.writeStaticString("<message type='chat' to='")
            buffer.writeString(jids[receiver])
            buffer.writeStaticString("'><body>")
            buffer.writeString(body.encoded(size: configuration.bodySize))
            buffer.writeStaticString("</body></message>")
            channel.write(buffer, promise: nil)
            if touched.last != slot { touched.append(slot) }
            stats.sent += 1
            stats.lag.record(nanoseconds: schedule.lagNs(of: k, at: now))
        }
        // Batch: one flush per device per tick, however many messages it got.
        for slot in Set(touched) { slots[slot].channel?.flush() }
        steps[chatStep] = stats
        if let next = schedule.nextDueNs {
            let now = MonotonicClock.now()
            loop.scheduleTask(in: .nanoseconds(next > now ? Int64(next - now) : 0)) { self.chatTick() }
        } else {
            chatDone?.succeed()
            chatDone = nil
        }
    }

    func received(_ body: ChatBody, slot: Int, atNs now: UInt64) {
        guard !collected.contains(body.step) else {
            lateAfterCollect += 1
            return
        }
        if steps[body.step] == nil { steps[body.step] = ChatShardStats() }
        steps[body.step]!.received += 1
        steps[body.step]!.latency.record(nanoseconds: now > body.scheduledNs ? now - body.scheduledNs : 0)
        steps[body.step]!.sendLatency.record(nanoseconds: now > body.sentNs ? now - body.sentNs : 0)
        let arrival = slots[slot].trackers[body.sender, default: SequenceTracker()].record(body.sequence)
        if arrival == .duplicate { steps[body.step]!.duplicates += 1 }
        if arrival == .reordered { steps[body.step]!.reordered += 1 }
    }

    func receivedCount(step: Int) -> Int { steps[step]?.received ?? 0 }

    /// The step's statistics (removed: later arrivals of that step count as late), with the
    /// sequence holes still open at this shard's receivers.
    func collect(step: Int) -> ChatShardStats {
        collected.insert(step)
        var stats = steps.removeValue(forKey: step) ?? ChatShardStats()
        stats.openHoles = slots.reduce(0) { total, slot in total + slot.trackers.values.reduce(0) { $0 + Int($1.missing) } }
        stats.lateAfterCollect = lateAfterCollect
        stats.messageErrors = messageErrors
        return stats
    }
}

/// Bare JIDs of all devices, shared read-only by every shard (messages are addressed by index).
final class JIDTable: Sendable {
    private let jids: [String]
    init(_ configuration: BenchConfiguration) { jids = (0..<configuration.devices).map(configuration.bareJID) }
    subscript(index: Int) -> String { jids[index] }
}

extension LoopShard {
    /// Sent and not-sent counts of a step still running or draining.
    func peekSent(step: Int) -> (sent: Int, notSent: Int) {
        let stats = steps[step] ?? ChatShardStats()
        return (stats.sent, stats.notSent)
    }
}
