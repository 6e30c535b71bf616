import Testing
@testable import Membership
import MMGSShared

/// 4. `MemberState.isOverridden(by:)`: SWIM's precedence, extended for restarts.
@Suite("Member state precedence")
struct MemberStateTests {
    static func s(_ status: MemberStatus, _ incarnation: UInt64, generation: UInt64 = 100, uid: UInt64 = 1) -> MemberState {
        Members.state("m", incarnation: incarnation, status: status, generation: generation, uid: uid)
    }

    static let statuses: [MemberStatus] = [.up, .suspect, .down]

    @Test("a higher incarnation wins whatever the statuses", arguments: statuses, statuses)
    func higherIncarnationWins(current: MemberStatus, update: MemberStatus) {
        #expect(Self.s(current, 3).isOverridden(by: Self.s(update, 4)))
        #expect(!Self.s(current, 4).isOverridden(by: Self.s(update, 3)), "a lower incarnation never wins")
    }

    @Test("at equal incarnation: suspect beats up, down beats suspect and up, nothing beats itself")
    func equalIncarnation() {
        #expect(Self.s(.up, 2).isOverridden(by: Self.s(.suspect, 2)))
        #expect(Self.s(.up, 2).isOverridden(by: Self.s(.down, 2)))
        #expect(Self.s(.suspect, 2).isOverridden(by: Self.s(.down, 2)))
        #expect(!Self.s(.suspect, 2).isOverridden(by: Self.s(.up, 2)), "up does not refute at the same incarnation")
        #expect(!Self.s(.down, 2).isOverridden(by: Self.s(.suspect, 2)))
        #expect(!Self.s(.down, 2).isOverridden(by: Self.s(.up, 2)))
        for status in Self.statuses { #expect(!Self.s(status, 2).isOverridden(by: Self.s(status, 2)), "\(status) by itself") }
    }

    @Test("a later generation (restart) beats anything of the older process", arguments: statuses, statuses)
    func laterGenerationWins(current: MemberStatus, update: MemberStatus) {
        let old = Self.s(current, 50, generation: 100, uid: 9)
        let new = Self.s(update, 0, generation: 101, uid: 1)
        #expect(old.isOverridden(by: new), "\(update) #0 of the new process over \(current) #50 of the old")
        #expect(!new.isOverridden(by: old), "an older generation never overrides, even at a higher incarnation")
    }

    @Test("same generation, different uid: the higher uid is the later process")
    func sameGenerationUIDTieBreak() {
        let a = Self.s(.up, 5, generation: 100, uid: 1)
        let b = Self.s(.up, 0, generation: 100, uid: 2)
        #expect(a.isOverridden(by: b))
        #expect(!b.isOverridden(by: a))
    }

    @Test("status order and names")
    func statusOrder() {
        #expect(MemberStatus.up < .suspect && MemberStatus.suspect < .down)
        #expect(Self.statuses.map(\.name) == ["up", "suspect", "down"])
        #expect(Self.statuses.map(\.rawValue) == [0, 1, 2])
    }

    @Test("merge follows the precedence: only overriding updates are reported")
    func mergeUsesPrecedence() {
        var a = SWIMInstance(myself: Members.info("a"), seed: 1)
        _ = a.merge([Self.s(.up, 3)], now: 0)
        #expect(a.merge([Self.s(.suspect, 2), Self.s(.up, 3), Self.s(.down, 1)], now: 1).isEmpty)
        #expect(Members.changes(a.merge([Self.s(.suspect, 3)], now: 2)) == [Self.s(.suspect, 3)])
        #expect(Members.changes(a.merge([Self.s(.up, 4)], now: 3)) == [Self.s(.up, 4)])
        #expect(Members.changes(a.merge([Self.s(.down, 4), Self.s(.suspect, 4)], now: 4)) == [Self.s(.down, 4)])
        #expect(a.members["m"] == Self.s(.down, 4))
    }
}
