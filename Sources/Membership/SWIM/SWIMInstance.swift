/// SWIM failure detection and gossip membership as a pure state machine: no I/O, no clock of
/// its own. Every input is a `mutating func on…(…, now:)` returning directives that the shell
/// (`MembershipShell`) carries out: ping this member, ask these members to ping that one.
///
/// Protocol: each `probeInterval` the next member (round-robin over a shuffled list) is pinged.
/// No ack within `pingTimeout` → `indirectProbeCount` other members are asked to ping it. No ack
/// through them either → it becomes suspect, which is gossiped. A suspect that does not refute
/// (a higher incarnation, gossiped by itself) within `suspicionTimeout` is declared down.
/// Lifeguard's local health multiplier stretches our timeouts while we miss acks ourselves, so a
/// slow node suspects others less eagerly.
public struct SWIMInstance: Sendable {
    public enum Directive: Sendable, Equatable {
        case ping(target: MemberInfo, sequence: UInt64, timeout: Duration)
        case pingRequest(via: MemberInfo, target: MemberInfo, sequence: UInt64, timeout: Duration)
        /// A member's state changed as this node sees it (joined, suspect, down, refuted, replaced).
        case changed(MemberState)
    }

    public enum IndirectResult: Sendable { case ack, nack }

    enum Probe {
        case direct(target: String)
        case indirect(target: String, outstanding: Int)
    }

    public let settings: SWIMSettings
    public private(set) var myself: MemberState
    public private(set) var members: [String: MemberState] = [:]
    private var suspectedAt: [String: UInt64] = [:]
    private var downAt: [String: UInt64] = [:]
    private var gossip: [String: (state: MemberState, remaining: Int)] = [:]
    private var probeOrder: [String] = []
    private var probeIndex = 0
    private var probes: [UInt64: Probe] = [:]
    private var nextSequence: UInt64 = 1
    public private(set) var localHealth = 0
    private var random: SplitMix64

    public init(myself info: MemberInfo, settings: SWIMSettings = SWIMSettings(), seed: UInt64 = 0) {
        self.settings = settings
        self.myself = MemberState(info: info, incarnation: 0, status: .up)
        self.random = SplitMix64(seed: seed == 0 ? info.uid : seed)
        enqueueGossip(myself)
    }

    /// Every member this node knows, itself included, sorted by name.
    public var allMembers: [MemberState] {
        (Array(members.values) + [myself]).sorted { $0.name < $1.name }
    }

    // MARK: Gossip and merging

    /// Merges states learned from gossip, a join answer or a view. Returns what changed.
    public mutating func merge(_ updates: [MemberState], now: UInt64) -> [Directive] {
        var directives: [Directive] = []
        directives.reserveCapacity(updates.count)
        for update in updates { merge(update, now: now, into: &directives) }
        return directives
    }

    private mutating func merge(_ update: MemberState, now: UInt64, into directives: inout [Directive]) {
        if update.name == myself.name {
            refuteIfNeeded(update, into: &directives)
            return
        }
        if let current = members[update.name], !current.isOverridden(by: update) { return }
        let previous = members[update.name]
        members[update.name] = update
        switch update.status {
        case .up:
            suspectedAt[update.name] = nil
            downAt[update.name] = nil
        case .suspect:
            if previous?.status != .suspect || previous?.info.uid != update.info.uid { suspectedAt[update.name] = now }
            downAt[update.name] = nil
        case .down:
            suspectedAt[update.name] = nil
            downAt[update.name] = now
        }
        if previous == nil { probeOrder.insert(update.name, at: Int(random.next() % UInt64(probeOrder.count + 1))) }
        enqueueGossip(update)
        directives.append(.changed(update))
    }

    /// Someone says we are suspect or down, or knows an older incarnation of us: refute by
    /// raising our incarnation above theirs and gossiping that we are up.
    private mutating func refuteIfNeeded(_ update: MemberState, into directives: inout [Directive]) {
        guard update.info.uid == myself.info.uid, update.info.generation == myself.info.generation else {
            // A different process claims our name. The later generation wins; if that is us,
            // gossiping ourselves again makes the others converge.
            if !update.info.supersedes(myself.info) { enqueueGossip(myself) }
            return
        }
        guard update.status != .up, update.incarnation >= myself.incarnation else { return }
        myself.incarnation = update.incarnation + 1
        enqueueGossip(myself)
        directives.append(.changed(myself))
    }

    private mutating func enqueueGossip(_ state: MemberState) {
        let n = members.count + 1
        var log2 = 1
        while (1 << log2) < n + 1 { log2 += 1 }
        gossip[state.name] = (state, settings.gossipMultiplier * log2)
    }

    /// Updates to piggyback on the next message, least-sent first; each use counts down.
    public mutating func takeGossip() -> [MemberState] {
        guard !gossip.isEmpty else { return [] }
        let chosen = gossip.sorted { a, b in
            a.value.remaining != b.value.remaining ? a.value.remaining > b.value.remaining : a.key < b.key
        }.prefix(settings.maxGossipPerMessage)
        var out: [MemberState] = []
        out.reserveCapacity(chosen.count)
        for (name, entry) in chosen {
            out.append(entry.state)
            if entry.remaining <= 1 { gossip[name] = nil } else { gossip[name]!.remaining -= 1 }
        }
        return out
    }

    // MARK: Probing

    private func scaled(_ duration: Duration) -> Duration {
        duration * (1 + localHealth)
    }

    /// Called every `probeInterval`: expires suspicions and pings the next member.
    public mutating func onProbeTick(now: UInt64) -> [Directive] {
        var directives: [Directive] = []
        expireSuspicions(now: now, into: &directives)
        forgetLongDown(now: now)
        guard let target = nextProbeTarget() else { return directives }
        let sequence = nextSequence
        nextSequence += 1
        probes[sequence] = .direct(target: target.name)
        directives.append(.ping(target: target.info, sequence: sequence, timeout: scaled(settings.pingTimeout)))
        return directives
    }

    private mutating func nextProbeTarget() -> MemberState? {
        guard !probeOrder.isEmpty else { return nil }
        for _ in 0..<probeOrder.count {
            if probeIndex >= probeOrder.count {
                probeIndex = 0
                shuffleProbeOrder()
            }
            let name = probeOrder[probeIndex]
            probeIndex += 1
            if let member = members[name], member.status != .down { return member }
        }
        return nil
    }

    private mutating func shuffleProbeOrder() {
        probeOrder = probeOrder.filter { members[$0] != nil }
        guard probeOrder.count > 1 else { return }
        for i in stride(from: probeOrder.count - 1, to: 0, by: -1) {
            let j = Int(random.next() % UInt64(i + 1))
            probeOrder.swapAt(i, j)
        }
    }

    /// The direct ping was answered; `gossip` is what the ack carried.
    public mutating func onAck(sequence: UInt64, gossip: [MemberState], now: UInt64) -> [Directive] {
        if probes.removeValue(forKey: sequence) != nil { localHealth = max(0, localHealth - 1) }
        return merge(gossip, now: now)
    }

    /// The direct ping failed (timeout or refused connection): probe through others.
    public mutating func onPingFailed(sequence: UInt64, now: UInt64) -> [Directive] {
        guard case .direct(let targetName)? = probes[sequence] else { return [] }
        guard let target = members[targetName] else {
            probes[sequence] = nil
            return []
        }
        let helpers = chooseHelpers(excluding: targetName)
        guard !helpers.isEmpty else {
            probes[sequence] = nil
            return suspect(target, now: now)
        }
        probes[sequence] = .indirect(target: targetName, outstanding: helpers.count)
        var directives: [Directive] = []
        directives.reserveCapacity(helpers.count)
        for helper in helpers {
            directives.append(.pingRequest(via: helper.info, target: target.info, sequence: sequence, timeout: scaled(settings.indirectTimeout)))
        }
        return directives
    }

    /// One helper answered a ping request (ack: it reached the target; nack: it did not) or
    /// could not be asked (nack).
    public mutating func onIndirectResult(sequence: UInt64, result: IndirectResult, gossip: [MemberState], now: UInt64) -> [Directive] {
        var directives = merge(gossip, now: now)
        guard case .indirect(let targetName, let outstanding)? = probes[sequence] else { return directives }
        switch result {
        case .ack:
            probes[sequence] = nil
        case .nack where outstanding > 1:
            probes[sequence] = .indirect(target: targetName, outstanding: outstanding - 1)
        case .nack:
            probes[sequence] = nil
            localHealth = min(settings.maxLocalHealth, localHealth + 1)
            if let target = members[targetName] { directives += suspect(target, now: now) }
        }
        return directives
    }

    private mutating func chooseHelpers(excluding target: String) -> [MemberState] {
        var candidates = members.values.filter { $0.status == .up && $0.name != target }.sorted { $0.name < $1.name }
        var chosen: [MemberState] = []
        while chosen.count < settings.indirectProbeCount && !candidates.isEmpty {
            chosen.append(candidates.remove(at: Int(random.next() % UInt64(candidates.count))))
        }
        return chosen
    }

    private mutating func suspect(_ member: MemberState, now: UInt64) -> [Directive] {
        guard member.status == .up else { return [] }
        var directives: [Directive] = []
        merge(MemberState(info: member.info, incarnation: member.incarnation, status: .suspect), now: now, into: &directives)
        return directives
    }

    private mutating func expireSuspicions(now: UInt64, into directives: inout [Directive]) {
        let timeout = Self.nanoseconds(scaled(settings.suspicionTimeout))
        // Sorted, so that several suspicions expiring on one tick come out in a fixed order.
        for (name, since) in suspectedAt.sorted(by: { ($0.value, $0.key) < ($1.value, $1.key) }) where now >= since + timeout {
            guard let member = members[name], member.status == .suspect else { suspectedAt[name] = nil; continue }
            merge(MemberState(info: member.info, incarnation: member.incarnation, status: .down), now: now, into: &directives)
        }
    }

    private mutating func forgetLongDown(now: UInt64) {
        let limit = Self.nanoseconds(settings.forgetDownAfter)
        for (name, since) in downAt.sorted(by: { ($0.value, $0.key) < ($1.value, $1.key) }) where now >= since + limit {
            members[name] = nil
            downAt[name] = nil
            gossip[name] = nil
        }
    }

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds / 1_000_000_000))
    }

    // MARK: Being probed

    /// A ping from another member: merge its gossip; the ack carries ours.
    public mutating func onPing(gossip: [MemberState], now: UInt64) -> (ack: [MemberState], directives: [Directive]) {
        let directives = merge(gossip, now: now)
        return (takeGossip(), directives)
    }

    /// Adds a member announced outside gossip (a join, a view), as up unless it says otherwise.
    public mutating func admit(_ state: MemberState, now: UInt64) -> [Directive] {
        merge([state], now: now)
    }
}

/// A small deterministic PRNG, so the state machine is reproducible in tests.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
