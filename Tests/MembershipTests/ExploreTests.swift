import Testing
@testable import Membership
import MMGSShared

@Suite struct Explore {
    @Test func measure() {
        var worstJoin = 0
        var worstDetect: UInt64 = 0
        var worstFirst: UInt64 = 0
        var worstRefute = 0
        var downsOfRefuted = 0
        for seed in UInt64(1)...200 {
            var c = SimulatedCluster(names: SimulatedCluster.names(10), seed: seed)
            c.run(rounds: 3)
            c.join(Members.info("A", role: .frontend), through: "node-0\(seed % 9 + 1)", seed: seed)
            let r = c.run(until: { c in c.nodes.values.allSatisfy { $0.myself.name == "A" || $0.members["A"] != nil } }, limit: 100)!
            worstJoin = max(worstJoin, r)

            var k = SimulatedCluster(names: SimulatedCluster.names(10), seed: seed)
            k.run(rounds: Int(seed % 7))
            let victim = "node-0\(seed % 9 + 1)"
            k.dead.insert(victim)
            let killedAt = k.now
            _ = k.run(until: { c in c.live.allSatisfy { c.nodes[$0]!.members[victim]?.status == .down } }, limit: 200)!
            let last = k.events.filter { $0.state.name == victim && $0.state.status == .down }.map(\.at).max()!
            let first = k.events.filter { $0.state.name == victim && $0.state.status == .suspect }.map(\.at).min()!
            worstDetect = max(worstDetect, last - killedAt)
            worstFirst = max(worstFirst, first - killedAt)

            var f = SimulatedCluster(names: SimulatedCluster.names(5), seed: seed)
            f.run(rounds: 2)
            f.execute(f.nodes["node-03"]!.merge([f.nodes["node-02"]!.myself.withStatus(.suspect)], now: f.now), at: "node-03", time: f.now)
            let rr = f.run(until: { c in c.nodes.values.allSatisfy { $0.myself.name == "node-02" || ($0.members["node-02"]!.incarnation >= 1 && $0.members["node-02"]!.status == .up) } }, limit: 100)!
            worstRefute = max(worstRefute, rr)
            downsOfRefuted += f.events.filter { $0.state.name == "node-02" && $0.state.status == .down }.count
        }
        print("worstJoin", worstJoin, "worstDetect ms", worstDetect / 1_000_000, "worstFirstSuspect ms", worstFirst / 1_000_000, "worstRefute", worstRefute, "downsOfRefuted", downsOfRefuted)
    }
}
extension MemberState { func withStatus(_ s: MemberStatus) -> MemberState { var m = self; m.status = s; return m } }
