@testable import Membership
import MMGSShared

typealias Directive = SWIMInstance.Directive

extension Duration {
    /// Whole nanoseconds, the unit of SWIM's `now`.
    var nanos: UInt64 {
        UInt64(components.seconds) * 1_000_000_000 + UInt64(components.attoseconds / 1_000_000_000)
    }
}

enum Members {
    static func info(_ name: String, role: NodeRole = .router, generation: UInt64 = 1_000, uid: UInt64? = nil) -> MemberInfo {
        MemberInfo(name: name, role: role, generation: generation, uid: uid ?? StableHash.hash64(name) | 1, pid: 4242,
                   endpoints: ["etunnel": "sim:\(name)", "http": "sim-http:\(name)"])
    }

    static func state(_ name: String, role: NodeRole = .router, incarnation: UInt64 = 0, status: MemberStatus = .up,
                      generation: UInt64 = 1_000, uid: UInt64? = nil) -> MemberState {
        MemberState(info: info(name, role: role, generation: generation, uid: uid), incarnation: incarnation, status: status)
    }

    static func changes(_ directives: [Directive]) -> [MemberState] {
        directives.compactMap { if case .changed(let state) = $0 { state } else { nil } }
    }

    static func pings(_ directives: [Directive]) -> [(target: MemberInfo, sequence: UInt64, timeout: Duration)] {
        directives.compactMap { if case .ping(let target, let sequence, let timeout) = $0 { (target, sequence, timeout) } else { nil } }
    }

    static func pingRequests(_ directives: [Directive]) -> [(via: MemberInfo, target: MemberInfo, sequence: UInt64, timeout: Duration)] {
        directives.compactMap {
            if case .pingRequest(let via, let target, let sequence, let timeout) = $0 { (via, target, sequence, timeout) } else { nil }
        }
    }
}

/// A cluster of `SWIMInstance`s wired by an in-memory network that carries out their directives
/// synchronously: a ping reaches the target (`onPing`) and its ack comes straight back (`onAck`);
/// a ping to a dead or cut-off node fails after its timeout (`onPingFailed`); a ping request
/// makes the helper ping the target and answer `.ack` or `.nack` (`onIndirectResult`). Time is a
/// nanosecond counter advanced by one probe interval per round, in which every live node ticks
/// once, in name order.
struct SimulatedCluster {
    struct Event: Equatable, CustomStringConvertible {
        var observer: String
        var state: MemberState
        var at: UInt64
        var description: String { "\(at / 1_000_000)ms \(observer): \(state.name) \(state.status.name) #\(state.incarnation) gen \(state.info.generation)" }
    }

    struct Link: Hashable {
        let a: String, b: String
        init(_ x: String, _ y: String) { (a, b) = x < y ? (x, y) : (y, x) }
    }

    let settings: SWIMSettings
    var nodes: [String: SWIMInstance] = [:]
    /// Processes that no longer answer (killed), but whose instance stays for inspection.
    var dead: Set<String> = []
    /// Pairs of nodes that cannot talk to each other directly (both directions).
    var cut: Set<Link> = []
    var now: UInt64 = 0
    var rounds = 0
    var events: [Event] = []
    struct TraceEntry: Equatable {
        var node: String
        var at: UInt64
        var directive: Directive
    }

    /// Every directive any node issued, in order, for determinism checks.
    var trace: [TraceEntry] = []
    var indirectAcks = 0
    var indirectNacks = 0

    /// `names` as routers that all know each other (as after joining), each seeded with `seed ^ index`.
    init(names: [String], settings: SWIMSettings = SWIMSettings(), seed: UInt64 = 1) {
        self.settings = settings
        for (index, name) in names.enumerated() {
            nodes[name] = SWIMInstance(myself: Members.info(name), settings: settings, seed: seed &+ UInt64(index) &* 0x9e37_79b9)
        }
        for name in names {
            let others = names.filter { $0 != name }.map { MemberState(info: Members.info($0), incarnation: 0, status: .up) }
            _ = nodes[name]!.merge(others, now: 0)
        }
    }

    static func names(_ count: Int) -> [String] { (1...count).map { "node-\($0 < 10 ? "0" : "")\($0)" } }

    var live: [String] { nodes.keys.filter { !dead.contains($0) }.sorted() }

    func canTalk(_ a: String, _ b: String) -> Bool {
        !dead.contains(a) && !dead.contains(b) && !cut.contains(Link(a, b)) && nodes[a] != nil && nodes[b] != nil
    }

    /// What `observer` currently believes about `name`.
    func view(of name: String, at observer: String) -> MemberState? { nodes[observer]?.members[name] }

    /// One probe round: every live node ticks at `now`, then time advances by `probeInterval`.
    mutating func round() {
        for name in live {
            let directives = nodes[name]!.onProbeTick(now: now)
            execute(directives, at: name, time: now)
        }
        rounds += 1
        now += settings.probeInterval.nanos
    }

    mutating func run(rounds count: Int) { for _ in 0..<count { round() } }

    /// Runs rounds until `done` holds (checked before each round); returns the rounds run, or nil
    /// when `limit` rounds were not enough.
    mutating func run(until done: (SimulatedCluster) -> Bool, limit: Int) -> Int? {
        for n in 0...limit {
            if done(self) { return n }
            if n < limit { round() }
        }
        return nil
    }

    mutating func execute(_ directives: [Directive], at name: String, time: UInt64) {
        for directive in directives {
            trace.append(TraceEntry(node: name, at: time, directive: directive))
            switch directive {
            case .changed(let state):
                events.append(Event(observer: name, state: state, at: time))

            case .ping(let target, let sequence, let timeout):
                if canTalk(name, target.name) {
                    let gossip = nodes[name]!.takeGossip()
                    let (ack, theirs) = nodes[target.name]!.onPing(gossip: gossip, now: time)
                    execute(theirs, at: target.name, time: time)
                    execute(nodes[name]!.onAck(sequence: sequence, gossip: ack, now: time), at: name, time: time)
                } else {
                    let failedAt = time + timeout.nanos
                    execute(nodes[name]!.onPingFailed(sequence: sequence, now: failedAt), at: name, time: failedAt)
                }

            case .pingRequest(let via, let target, let sequence, let timeout):
                var reached = false
                var answer: [MemberState] = []
                if canTalk(name, via.name) {
                    let request = nodes[name]!.takeGossip()
                    execute(nodes[via.name]!.merge(request, now: time), at: via.name, time: time)
                    if canTalk(via.name, target.name) {
                        let ping = nodes[via.name]!.takeGossip()
                        let (ack, theirs) = nodes[target.name]!.onPing(gossip: ping, now: time)
                        execute(theirs, at: target.name, time: time)
                        execute(nodes[via.name]!.merge(ack, now: time), at: via.name, time: time)
                        reached = true
                    }
                    answer = nodes[via.name]!.takeGossip()
                }
                if reached { indirectAcks += 1 } else { indirectNacks += 1 }
                let answeredAt = reached ? time : time + timeout.nanos
                execute(nodes[name]!.onIndirectResult(sequence: sequence, result: reached ? .ack : .nack, gossip: answer, now: answeredAt),
                        at: name, time: answeredAt)
            }
        }
    }

    /// `joiner` joins through `seed` as through a manager: the seed admits it, and it merges
    /// everything the seed knows (the join answer).
    mutating func join(_ joiner: MemberInfo, through seed: String, seed random: UInt64 = 7) {
        nodes[joiner.name] = SWIMInstance(myself: joiner, settings: settings, seed: random)
        dead.remove(joiner.name)
        execute(nodes[seed]!.admit(MemberState(info: joiner, incarnation: 0, status: .up), now: now), at: seed, time: now)
        let answer = nodes[seed]!.allMembers
        execute(nodes[joiner.name]!.merge(answer, now: now), at: joiner.name, time: now)
    }
}
