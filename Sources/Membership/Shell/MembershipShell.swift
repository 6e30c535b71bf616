import ETunnel
import Logging
import MMGSShared
import NIOCore

/// The I/O shell around `SWIMInstance`: it runs the probe timer, carries out directives over
/// eTunnel, answers other members' pings, joins through the seed managers, follows published
/// views and, on a topology manager, publishes them.
public actor MembershipShell {
    public nonisolated let myself: MemberInfo
    public nonisolated let viewCache: ViewCache
    public nonisolated let isManager: Bool
    private let settings: SWIMSettings
    private let client: ETunnelClient
    private let seeds: [ETunnelEndpoint]
    private let logger: Logger
    private var swim: SWIMInstance
    private var publisher: ViewPublisher?
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant
    private var lastViewAt: ContinuousClock.Instant?
    private var lastPullAt: ContinuousClock.Instant?
    private var lastPushAt: ContinuousClock.Instant?
    private var joined = false
    private let work: AsyncStream<SWIMInstance.Directive>
    private let workContinuation: AsyncStream<SWIMInstance.Directive>.Continuation

    public init(myself: MemberInfo, isManager: Bool, seeds: [ETunnelEndpoint], client: ETunnelClient,
                settings: SWIMSettings = SWIMSettings(), viewCache: ViewCache = ViewCache(), logger: Logger) {
        self.myself = myself
        self.isManager = isManager
        self.seeds = seeds
        self.client = client
        self.settings = settings
        self.viewCache = viewCache
        self.logger = logger
        self.swim = SWIMInstance(myself: myself, settings: settings)
        self.publisher = isManager ? ViewPublisher(localName: myself.name) : nil
        self.start = clock.now
        (self.work, self.workContinuation) = AsyncStream.makeStream(of: SWIMInstance.Directive.self)
    }

    private var now: UInt64 { UInt64((clock.now - start).nanoseconds) }

    /// Every member this node knows, itself included.
    public var members: [MemberState] { swim.allMembers }

    // MARK: Running

    /// Runs until cancelled (graceful shutdown), then announces that this node leaves.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.joinLoop() }
            group.addTask { await self.tickLoop() }
            group.addTask {
                await withDiscardingTaskGroup { directives in
                    for await directive in self.work {
                        directives.addTask { await self.execute(directive) }
                    }
                }
            }
            group.addTask {
                // Ends the work stream when the service is cancelled so the group can finish.
                await withTaskCancellationHandler {
                    while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                } onCancel: {
                    self.workContinuation.finish()
                }
            }
        }
        // The service task is cancelled by now, and a cancelled task's calls fail at once: say
        // goodbye from a fresh task, which does not inherit the cancellation.
        await Task { await self.leave() }.value
    }

    private func tickLoop() async {
        while !Task.isCancelled {
            submit(swim.onProbeTick(now: now))
            await publishIfLeader()
            await pullViewIfStale()
            try? await Task.sleep(for: settings.probeInterval)
        }
    }

    private func submit(_ directives: [SWIMInstance.Directive]) {
        for directive in directives {
            if case .changed(let state) = directive {
                noteChange(state)
            } else {
                workContinuation.yield(directive)
            }
        }
    }

    private func noteChange(_ state: MemberState) {
        guard state.name != myself.name else {
            logger.info("refuted a suspicion about this node", metadata: ["incarnation": "\(state.incarnation)"])
            return
        }
        logger.info("member \(state.status.name)", metadata: ["member": "\(state.name)", "role": "\(state.info.role.rawValue)", "incarnation": "\(state.incarnation)"])
        if state.status == .down, let endpoint = state.info.etunnel.flatMap(ETunnelEndpoint.init) {
            client.forget(endpoint)
        }
    }

    // MARK: Probing

    private func peer(_ info: MemberInfo) -> ETunnelPeer? {
        info.etunnel.flatMap(ETunnelEndpoint.init).map(client.peer)
    }

    private func execute(_ directive: SWIMInstance.Directive) async {
        switch directive {
        case .ping(let target, let sequence, let timeout):
            let message = GossipMessage(gossip: swim.takeGossip())
            do {
                guard let peer = peer(target) else { throw ETunnelError(.peerUnavailable, "no eTunnel endpoint") }
                let ack = try await peer.call(MembershipMethods.ping, message, as: GossipMessage.self, timeout: timeout)
                submit(swim.onAck(sequence: sequence, gossip: ack.gossip, now: now))
            } catch {
                submit(swim.onPingFailed(sequence: sequence, now: now))
            }
        case .pingRequest(let via, let target, let sequence, let timeout):
            guard let targetState = swim.members[target.name] else { return }
            let message = PingRequestMessage(target: targetState, timeoutMillis: UInt32(timeout.milliseconds / 2), gossip: swim.takeGossip())
            do {
                guard let peer = peer(via) else { throw ETunnelError(.peerUnavailable, "no eTunnel endpoint") }
                let answer = try await peer.call(MembershipMethods.pingRequest, message, as: PingRequestAnswer.self, timeout: timeout)
                submit(swim.onIndirectResult(sequence: sequence, result: answer.reached ? .ack : .nack, gossip: answer.gossip, now: now))
            } catch {
                submit(swim.onIndirectResult(sequence: sequence, result: .nack, gossip: [], now: now))
            }
        case .changed(let state):
            noteChange(state)
        }
    }

    /// Another member pinged us.
    public func handlePing(_ message: GossipMessage) -> GossipMessage {
        let (ack, directives) = swim.onPing(gossip: message.gossip, now: now)
        submit(directives)
        return GossipMessage(gossip: ack)
    }

    /// Another member asks us to ping `target` on its behalf.
    public func handlePingRequest(_ message: PingRequestMessage) async -> PingRequestAnswer {
        submit(swim.merge(message.gossip, now: now))
        var reached = false
        if let peer = peer(message.target.info) {
            let ping = GossipMessage(gossip: swim.takeGossip())
            if let ack = try? await peer.call(MembershipMethods.ping, ping, as: GossipMessage.self, timeout: .milliseconds(Int64(message.timeoutMillis))) {
                submit(swim.merge(ack.gossip, now: now))
                reached = true
            }
        }
        return PingRequestAnswer(reached: reached, gossip: swim.takeGossip())
    }

    // MARK: Joining and leaving

    private func joinLoop() async {
        let ownEndpoint = myself.etunnel.flatMap(ETunnelEndpoint.init)
        let targets = seeds.filter { $0 != ownEndpoint }
        guard !targets.isEmpty else { joined = true; return }
        var attempt = 0
        while !Task.isCancelled && !joined {
            // A manager that already knows another live manager needs no join.
            if isManager && swim.members.values.contains(where: { $0.info.role == .topology && $0.status == .up }) { joined = true; break }
            for seed in targets where !joined {
                do {
                    let request = MemberMessage(member: swim.myself)
                    let answer = try await client.peer(seed).call(MembershipMethods.join, request, as: JoinAnswer.self, timeout: .seconds(1))
                    submit(swim.merge(answer.members, now: now))
                    if let view = answer.view { adopt(view) }
                    joined = true
                    logger.info("joined the cluster", metadata: ["through": "\(seed)", "members": "\(answer.members.count)"])
                } catch {
                    if attempt % 10 == 0 {
                        logger.notice("join through seed failed", metadata: ["seed": "\(seed)", "error": "\(error)"])
                    }
                }
            }
            attempt += 1
            if !joined { try? await Task.sleep(for: Backoff(base: .milliseconds(200), cap: .seconds(2)).delay(attempt: attempt)) }
        }
    }

    /// A manager admits a joining node and answers with everything it knows.
    public func handleJoin(_ message: MemberMessage) async throws(ETunnelError) -> JoinAnswer {
        guard isManager else { throw ETunnelError(.refused, "\(myself.name) is not a topology manager") }
        var state = message.member
        state.status = .up
        submit(swim.admit(state, now: now))
        await publishIfLeader(force: true)
        return JoinAnswer(members: swim.allMembers, view: viewCache.view)
    }

    /// Best effort: tell the managers this node is going, so its view entry turns down at once.
    private func leave() async {
        var farewell = swim.myself
        farewell.status = .down
        let message = GossipMessage(gossip: [farewell])
        let managers = swim.members.values.filter { $0.info.role == .topology && $0.status == .up }
        await withTaskGroup(of: Void.self) { group in
            for manager in managers {
                guard let peer = peer(manager.info) else { continue }
                group.addTask { _ = try? await peer.call(MembershipMethods.ping, message.encoded(), timeout: .milliseconds(300)) }
            }
        }
    }

    // MARK: Views

    /// Learns the members of any view (SWIM's precedence rules discard stale states) and adopts
    /// it if it is newer. Returns our view when it is newer than the one offered, so that a
    /// manager restarted with a lower epoch catches up instead of being ignored.
    @discardableResult
    public func adopt(_ view: ClusterView) -> ClusterView? {
        submit(swim.merge(view.members, now: now))
        guard viewCache.adopt(view) else {
            if let current = viewCache.view, current.isNewer(than: view) { return current }
            return nil
        }
        lastViewAt = clock.now
        logger.info("adopted view", metadata: ["epoch": "\(view.epoch)", "publisher": "\(view.publisher)", "members": "\(view.members.count)"])
        return nil
    }

    private func pullViewIfStale() async {
        guard !isManager else { return }
        let stale = lastViewAt.map { clock.now - $0 > .seconds(2) } ?? true
        let recentlyPulled = lastPullAt.map { clock.now - $0 < .seconds(1) } ?? false
        guard stale && !recentlyPulled else { return }
        lastPullAt = clock.now
        var endpoints = swim.members.values.filter { $0.info.role == .topology && $0.status != .down }.compactMap { $0.info.etunnel.flatMap(ETunnelEndpoint.init) }
        endpoints += seeds.filter { !endpoints.contains($0) }
        for endpoint in endpoints {
            if let answer = try? await client.peer(endpoint).call(MembershipMethods.viewGet, ByteBuffer(), timeout: .milliseconds(500)),
               let view = try? ClusterView.decode(answer) {
                if let newer = adopt(view) {
                    // The manager is behind (restarted): hand it our view and ourselves.
                    _ = try? await client.peer(endpoint).call(MembershipMethods.viewPush, newer.encoded(), timeout: .milliseconds(500))
                    _ = try? await client.peer(endpoint).call(MembershipMethods.join, MemberMessage(member: swim.myself).encoded(), timeout: .milliseconds(500))
                }
                return
            }
        }
        // Every manager is unreachable: keep routing by the last view.
    }

    private func publishIfLeader(force: Bool = false) async {
        guard var publisher else { return }
        let members = swim.allMembers
        let next = publisher.nextView(members: members, current: viewCache.view)
        self.publisher = publisher
        let due = force || lastPushAt.map { clock.now - $0 > .seconds(1) } ?? true
        guard next != nil || (due && ViewPublisher.leader(of: members) == myself.name) else { return }
        if let next {
            lastViewAt = clock.now
            viewCache.adopt(next)
            logger.info("published view", metadata: ["epoch": "\(next.epoch)", "members": "\(next.members.count)"])
        }
        guard let view = viewCache.view else { return }
        lastPushAt = clock.now
        let payload: ByteBuffer
        do {
            payload = try view.encoded()
        } catch {
            logger.error("the view cannot be encoded; not pushed", metadata: ["epoch": "\(view.epoch)", "error": "\(error)"])
            return
        }
        for member in members where member.name != myself.name && member.status != .down {
            guard let peer = peer(member.info) else { continue }
            workContinuationPush(peer: peer, payload: payload)
        }
    }

    private nonisolated func workContinuationPush(peer: ETunnelPeer, payload: ByteBuffer) {
        Task {
            // A member that knows a newer view answers with it (we restarted behind it).
            guard let answer = try? await peer.call(MembershipMethods.viewPush, payload, timeout: .milliseconds(500)),
                  answer.readableBytes > 0, let newer = try? ClusterView.decode(answer) else { return }
            await self.adopt(newer)
        }
    }
}

extension MembershipShell {
    /// Registers the membership methods this node serves.
    public nonisolated func register(into methods: inout ETunnelMethods) {
        methods.register(MembershipMethods.ping, async: { call in
            let message = try GossipMessage.decode(call.payload)
            return try await self.handlePing(message).encoded()
        })
        methods.register(MembershipMethods.pingRequest, async: { call in
            let message = try PingRequestMessage.decode(call.payload)
            return try await self.handlePingRequest(message).encoded()
        })
        methods.register(MembershipMethods.join, async: { call in
            let message = try MemberMessage.decode(call.payload)
            return try await self.handleJoin(message).encoded()
        })
        methods.register(MembershipMethods.viewPush, async: { call in
            let newer = await self.adopt(try ClusterView.decode(call.payload))
            return try newer?.encoded() ?? ByteBuffer()
        })
        methods.register(MembershipMethods.viewGet) { call in
            guard let view = self.viewCache.view else {
                call.fail(ETunnelError(.refused, "\(self.myself.name) has no view yet"))
                return
            }
            call.respond(view)
        }
    }
}
