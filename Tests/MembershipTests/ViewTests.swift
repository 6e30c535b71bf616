import Testing
@testable import Membership
import MMGSShared
import Placement

/// Views: who publishes, when the epoch moves, which views nodes adopt, and placement per view.
@Suite("Views")
struct ViewTests {
    static func cluster(_ change: [String: MemberStatus] = [:]) -> [MemberState] {
        let roles: [(String, NodeRole)] = [
            ("topology-1", .topology), ("topology-2", .topology), ("topology-3", .topology),
            ("frontend-1", .frontend), ("router-1", .router), ("router-2", .router), ("router-3", .router),
        ]
        return roles.map { name, role in Members.state(name, role: role, status: change[name] ?? .up) }
    }

    /// `publisher.nextView`, required to publish.
    static func next(_ publisher: inout ViewPublisher, members: [MemberState], current: ClusterView?,
                     sourceLocation: SourceLocation = #_sourceLocation) throws -> ClusterView {
        let view = publisher.nextView(members: members, current: current)
        return try #require(view, "\(publisher.localName) published nothing", sourceLocation: sourceLocation)
    }

    // MARK: ViewPublisher

    @Test("the leader is the lowest-named up topology manager; other roles never lead")
    func leader() {
        #expect(ViewPublisher.leader(of: Self.cluster()) == "topology-1")
        #expect(ViewPublisher.leader(of: Self.cluster(["topology-1": .down])) == "topology-2")
        #expect(ViewPublisher.leader(of: Self.cluster(["topology-1": .down, "topology-2": .down, "topology-3": .down])) == nil)
        // A router named "a…" sorts before every manager but is not one.
        let withLowRouter = Self.cluster() + [Members.state("a-router", role: .router)]
        #expect(ViewPublisher.leader(of: withLowRouter) == "topology-1")
        #expect(ViewPublisher.leader(of: []) == nil)
    }

    @Test("only the leader publishes")
    func onlyLeaderPublishes() {
        var follower = ViewPublisher(localName: "topology-2")
        #expect(follower.nextView(members: Self.cluster(), current: nil) == nil)
        #expect(follower.lastPublished == nil)
        var router = ViewPublisher(localName: "router-1")
        #expect(router.nextView(members: Self.cluster(), current: nil) == nil)
    }

    @Test("the leader publishes epoch 1, then nothing while nothing changes, then epoch + 1 per change")
    func epochs() throws {
        var leader = ViewPublisher(localName: "topology-1")
        let first = try Self.next(&leader, members: Self.cluster(), current: nil)
        #expect(first.epoch == 1)
        #expect(first.publisher == "topology-1")
        #expect(first.members.map(\.name) == Self.cluster().map(\.name).sorted())
        #expect(leader.lastPublished == first)

        // Nothing changed (members in any order): no new view.
        #expect(leader.nextView(members: Self.cluster(), current: first) == nil)
        #expect(leader.nextView(members: Self.cluster().reversed(), current: first) == nil)

        // A router turns suspect: epoch 2; again nothing; then down: epoch 3.
        let second = try Self.next(&leader, members: Self.cluster(["router-2": .suspect]), current: first)
        #expect(second.epoch == 2)
        #expect(second.member(named: "router-2")?.status == .suspect)
        #expect(leader.nextView(members: Self.cluster(["router-2": .suspect]), current: second) == nil)
        let third = try Self.next(&leader, members: Self.cluster(["router-2": .down]), current: second)
        #expect(third.epoch == 3)

        // A member joins: epoch 4. A restart (new generation) of a member: epoch 5.
        var joined = Self.cluster(["router-2": .down]) + [Members.state("transport-1", role: .transport)]
        let fourth = try Self.next(&leader, members: joined, current: third)
        #expect(fourth.epoch == 4)
        joined[5] = Members.state("router-2", role: .router, generation: 9_999, uid: 42)
        let fifth = try Self.next(&leader, members: joined, current: fourth)
        #expect(fifth.epoch == 5)
        #expect(fifth.member(named: "router-2")?.info.generation == 9_999)
    }

    @Test("a follower takes over when the leader is down, one epoch above the last view it saw")
    func takeover() throws {
        var leader = ViewPublisher(localName: "topology-1")
        var view = try Self.next(&leader, members: Self.cluster(), current: nil)
        for step in 0..<6 {   // a few changes: the leader is at epoch 7
            view = try Self.next(&leader, members: Self.cluster(["router-1": step % 2 == 0 ? .suspect : .up]), current: view)
        }
        #expect(view.epoch == 7)

        var follower = ViewPublisher(localName: "topology-2")
        #expect(follower.nextView(members: Self.cluster(["router-1": .up]), current: view) == nil, "the leader is up")
        let takeover = try Self.next(&follower, members: Self.cluster(["topology-1": .down]), current: view)
        #expect(takeover.epoch == 8)
        #expect(takeover.publisher == "topology-2")
        #expect(takeover.isNewer(than: view))
        #expect(takeover.member(named: "topology-1")?.status == .down)
        // And it goes on from its own last view.
        let next = try Self.next(&follower, members: Self.cluster(["topology-1": .down, "router-3": .down]), current: takeover)
        #expect(next.epoch == 9)
        // When the old leader comes back (a new process), it leads again, above the follower's epoch.
        var returning = ViewPublisher(localName: "topology-1")
        var back = Self.cluster(["router-3": .down])
        back[0] = Members.state("topology-1", role: .topology, generation: 5_000, uid: 7)
        #expect(follower.nextView(members: back, current: next) == nil)
        let resumed = try Self.next(&returning, members: back, current: next)
        #expect(resumed.epoch == 10)
        #expect(resumed.publisher == "topology-1")
    }

    @Test("the epoch is above both the newest view seen and the last one published")
    func epochBase() throws {
        var leader = ViewPublisher(localName: "topology-1")
        let own = try Self.next(&leader, members: Self.cluster(), current: nil)
        #expect(own.epoch == 1)
        // Someone else published epoch 20 meanwhile (e.g. during a partition).
        let foreign = ClusterView(epoch: 20, publisher: "topology-2", members: Self.cluster(["topology-1": .down]))
        let next = try Self.next(&leader, members: Self.cluster(), current: foreign)
        #expect(next.epoch == 21)
        #expect(next.isNewer(than: foreign))
    }

    /// docs/architecture.md and ViewPublisher's doc comment: the others "take over … when SWIM
    /// declares the publisher down", and the publisher is the lowest-named *live* manager
    /// (`ClusterView.live`: up or suspect). `ViewPublisher.leader` (ViewPublisher.swift:115)
    /// requires `.up`, so a merely suspect leader is replaced at once and two managers publish
    /// concurrently until the suspicion is settled.
    @Test("a suspect leader keeps leading: the follower waits for down")
    func suspectLeaderKeepsLeading() throws {
        var leader = ViewPublisher(localName: "topology-1")
        let view = try Self.next(&leader, members: Self.cluster(), current: nil)
        var follower = ViewPublisher(localName: "topology-2")
        #expect(ViewPublisher.leader(of: Self.cluster(["topology-1": .suspect])) == "topology-1")
        let published = follower.nextView(members: Self.cluster(["topology-1": .suspect]), current: view)
        #expect(published?.epoch == nil, "topology-2 published epoch \(published?.epoch ?? 0) while topology-1 is only suspect")
    }

    // MARK: ClusterView

    @Test("isNewer: a higher epoch wins; at equal epochs the later publisher name; never itself")
    func isNewer() {
        let members = Self.cluster()
        let v5a = ClusterView(epoch: 5, publisher: "topology-1", members: members)
        let v5b = ClusterView(epoch: 5, publisher: "topology-2", members: members)
        let v6a = ClusterView(epoch: 6, publisher: "topology-1", members: [])
        let v4z = ClusterView(epoch: 4, publisher: "topology-9", members: members)
        #expect(v5a.isNewer(than: nil))
        #expect(v6a.isNewer(than: v5b), "epoch before publisher")
        #expect(!v5b.isNewer(than: v6a))
        #expect(v5b.isNewer(than: v5a))
        #expect(!v5a.isNewer(than: v5b))
        #expect(!v5a.isNewer(than: v5a))
        #expect(!v4z.isNewer(than: v5a))
        // A total order: of any two distinct (epoch, publisher), exactly one is newer.
        let all = [v5a, v5b, v6a, v4z]
        for x in all { for y in all where x != y { #expect(x.isNewer(than: y) != y.isNewer(than: x)) } }
    }

    @Test("members are kept sorted by name; lookup by name")
    func sortedMembers() {
        let view = ClusterView(epoch: 1, publisher: "topology-1", members: Self.cluster().reversed())
        #expect(view.members.map(\.name) == Self.cluster().map(\.name).sorted())
        #expect(view.member(named: "router-2")?.info.role == .router)
        #expect(view.member(named: "nobody") == nil)
    }

    @Test("placement excludes down members and keeps suspect ones, per role, at the view's epoch")
    func placement() {
        let view = ClusterView(epoch: 12, publisher: "topology-1", members: Self.cluster(["router-1": .down, "router-2": .suspect]))
        let routers = view.placement(for: .router)
        #expect(routers.epoch == 12)
        #expect(routers.nodes.map(\.name) == ["router-2", "router-3"])
        #expect(view.live(.router).map(\.name) == ["router-2", "router-3"])
        #expect(view.placement(for: .frontend).nodes.map(\.name) == ["frontend-1"])
        #expect(view.placement(for: .transport).nodes.isEmpty)
        for key in ["alice@mmgs.local", "bob@mmgs.local", "carol@mmgs.local", "k1", "k2", "k3"] {
            #expect(routers.owner(of: key) != "router-1")
        }
        #expect(view.placement(for: .transport).owner(of: "alice@mmgs.local") == nil)
    }

    @Test("the shape changes with who, which process and which status; not with incarnation")
    func shape() {
        let base = ClusterView(epoch: 1, publisher: "t", members: Self.cluster())
        var refuted = Self.cluster()
        refuted[4].incarnation = 3
        #expect(ClusterView(epoch: 1, publisher: "t", members: refuted).shape == base.shape)
        #expect(ClusterView(epoch: 1, publisher: "t", members: Self.cluster(["router-1": .suspect])).shape != base.shape)
        var restarted = Self.cluster()
        restarted[4] = Members.state("router-1", generation: 77)
        #expect(ClusterView(epoch: 1, publisher: "t", members: restarted).shape != base.shape)
        #expect(ClusterView(epoch: 1, publisher: "t", members: Array(Self.cluster().dropLast())).shape != base.shape)
    }

    // MARK: ViewCache

    @Test("ViewCache adopts only newer views")
    func cacheAdopt() {
        let cache = ViewCache()
        #expect(cache.view == nil && cache.epoch == nil)
        #expect(cache.placement(for: .router) == nil)
        #expect(cache.owner(of: "k", role: .router) == nil)

        let v3 = ClusterView(epoch: 3, publisher: "topology-1", members: Self.cluster())
        #expect(cache.adopt(v3))
        #expect(cache.epoch == 3)
        #expect(!cache.adopt(v3), "the same view again")
        #expect(!cache.adopt(ClusterView(epoch: 2, publisher: "topology-9", members: [])), "an older epoch")
        #expect(!cache.adopt(ClusterView(epoch: 3, publisher: "topology-0", members: [])), "same epoch, earlier publisher")
        #expect(cache.view == v3)
        #expect(cache.adopt(ClusterView(epoch: 3, publisher: "topology-2", members: Self.cluster())), "same epoch, later publisher")
        #expect(cache.view?.publisher == "topology-2")
        #expect(cache.adopt(ClusterView(epoch: 4, publisher: "topology-1", members: Self.cluster())))
        #expect(cache.epoch == 4)
    }

    @Test("ViewCache placement follows the adopted view")
    func cachePlacement() throws {
        let cache = ViewCache()
        cache.adopt(ClusterView(epoch: 1, publisher: "topology-1", members: Self.cluster()))
        let first = try #require(cache.placement(for: .router))
        #expect(first.epoch == 1)
        #expect(first.nodes.count == 3)
        #expect(cache.placement(for: .router) == first, "cached")
        let owner = try #require(cache.owner(of: "alice@mmgs.local", role: .router))
        #expect(owner.info.role == .router)
        #expect(owner.name == first.owner(of: "alice@mmgs.local"))

        // The owner goes down: the next view moves its keys; a stale older view is refused.
        var members = Self.cluster()
        members[members.firstIndex { $0.name == owner.name }!].status = .down
        #expect(cache.adopt(ClusterView(epoch: 2, publisher: "topology-1", members: members)))
        let second = try #require(cache.placement(for: .router))
        #expect(second.epoch == 2)
        #expect(!second.nodes.map(\.name).contains(owner.name))
        #expect(cache.owner(of: "alice@mmgs.local", role: .router)?.name != owner.name)
        #expect(!cache.adopt(ClusterView(epoch: 1, publisher: "topology-1", members: Self.cluster())))
        #expect(cache.placement(for: .router)?.epoch == 2)
    }

    @Test("ViewCache is safe to read and adopt from many tasks")
    func cacheConcurrency() async {
        let cache = ViewCache()
        let members = Self.cluster()
        await withTaskGroup(of: Void.self) { group in
            for epoch in 1...50 {
                group.addTask {
                    cache.adopt(ClusterView(epoch: UInt64(epoch), publisher: "topology-1", members: members))
                    _ = cache.owner(of: "key-\(epoch)", role: .router)
                }
            }
        }
        #expect(cache.epoch == 50)
        #expect(cache.placement(for: .router)?.epoch == 50)
    }
}
