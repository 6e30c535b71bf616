import NIOCore
import StanzaRouting
import Testing
@testable import MMGSRouter

private let alice = "alice@example.com"
private let bob = "bob@example.com"

private func address(_ stream: UInt64, on frontend: String = "fe-1") -> SessionAddress {
    SessionAddress(frontend: frontend, stream: stream)
}

/// Opens `resource` for `bare` at `address` and sends available presence with `priority`.
private func online(_ table: inout SessionTable, _ bare: String, _ resource: String, _ address: SessionAddress, priority: Int8) {
    _ = table.open(bare: bare, resource: resource, address: address)
    table.setPresence(bare: bare, resource: resource, available: true, priority: priority, stanza: ByteBuffer(string: "<presence/>"))
}

@Suite struct SessionTableTests {
    // MARK: Binding

    @Test func generatedResourceWhenNoneIsAsked() {
        var table = SessionTable()
        let opened = table.open(bare: alice, resource: nil, address: address(1))!
        #expect(opened.resource.hasPrefix("mmgs-"))
        #expect(opened.resource.count > "mmgs-".count)
        #expect(opened.replaced == nil)
        #expect(table.session(bare: alice, resource: opened.resource)?.address == address(1))
        #expect(table.count == 1)
    }

    @Test func generatedResourcesAreUniquePerUser() {
        var table = SessionTable()
        var seen: Set<String> = []
        for stream in 0..<500 as Range<UInt64> {
            let opened = table.open(bare: alice, resource: nil, address: address(stream))!
            #expect(opened.replaced == nil, "a generated resource must never replace a live session")
            #expect(opened.resource.hasPrefix("mmgs-"))
            seen.insert(opened.resource)
        }
        #expect(seen.count == 500)
        #expect(table.sessions(of: alice).count == 500)
        #expect(table.count == 500)
    }

    @Test func askedResourceIsKept() {
        var table = SessionTable()
        let opened = table.open(bare: alice, resource: "phone", address: address(1))!
        #expect(opened.resource == "phone")
        #expect(opened.replaced == nil)
        // Unicode and empty-looking resources are taken as they are.
        #expect(table.open(bare: alice, resource: "téléphone 📱", address: address(2))!.resource == "téléphone 📱")
        #expect(table.sessions(of: alice).map(\.resource) == ["phone", "téléphone 📱"])
    }

    @Test func sameResourceFromANewAddressReplacesTheOld() {
        var table = SessionTable()
        _ = table.open(bare: alice, resource: "phone", address: address(1))
        table.setPresence(bare: alice, resource: "phone", available: true, priority: 5, stanza: ByteBuffer(string: "<presence/>"))
        let old = table.session(bare: alice, resource: "phone")

        let opened = table.open(bare: alice, resource: "phone", address: address(9, on: "fe-2"))!
        #expect(opened.resource == "phone")
        #expect(opened.replaced == old)
        #expect(opened.replaced?.address == address(1))
        #expect(opened.replaced?.available == true)

        // The new session starts fresh: not available until it sends presence.
        let now = table.session(bare: alice, resource: "phone")
        #expect(now?.address == address(9, on: "fe-2"))
        #expect(now?.available == false)
        #expect(now?.presence == nil)
        #expect(table.count == 1)
    }

    @Test func sameResourceFromAnotherStreamOfTheSameFrontendReplaces() {
        var table = SessionTable()
        _ = table.open(bare: alice, resource: "phone", address: address(1))
        let opened = table.open(bare: alice, resource: "phone", address: address(2))!
        #expect(opened.replaced?.address == address(1))
    }

    @Test func rebindingFromTheSameAddressIsNotAReplacement() {
        var table = SessionTable()
        _ = table.open(bare: alice, resource: "phone", address: address(1))
        let again = table.open(bare: alice, resource: "phone", address: address(1))!
        #expect(again.resource == "phone")
        #expect(again.replaced == nil)
        #expect(table.count == 1)
    }

    @Test func sameResourceOfAnotherUserIsIndependent() {
        var table = SessionTable()
        _ = table.open(bare: alice, resource: "phone", address: address(1))
        let opened = table.open(bare: bob, resource: "phone", address: address(2))!
        #expect(opened.replaced == nil)
        #expect(table.session(bare: alice, resource: "phone")?.address == address(1))
        #expect(table.session(bare: bob, resource: "phone")?.address == address(2))
        #expect(table.count == 2)
    }

    // MARK: Closing

    @Test func closeRemovesTheSessionOfThatAddress() {
        var table = SessionTable()
        _ = table.open(bare: alice, resource: "phone", address: address(1))
        _ = table.open(bare: alice, resource: "tablet", address: address(2))
        let removed = table.close(bare: alice, resource: "phone", address: address(1))
        #expect(removed?.resource == "phone")
        #expect(removed?.address == address(1))
        #expect(table.session(bare: alice, resource: "phone") == nil)
        #expect(table.sessions(of: alice).map(\.resource) == ["tablet"])

        #expect(table.close(bare: alice, resource: "tablet", address: address(2)) != nil)
        #expect(table.users[alice] == nil, "a user without sessions is dropped")
        #expect(table.count == 0)
    }

    @Test func lateCloseOfAReplacedSessionIsIgnored() {
        var table = SessionTable()
        _ = table.open(bare: alice, resource: "phone", address: address(1))
        let opened = table.open(bare: alice, resource: "phone", address: address(2))!
        #expect(opened.replaced?.address == address(1))

        // The old stream closes after being killed with conflict: the new one must survive.
        #expect(table.close(bare: alice, resource: "phone", address: address(1)) == nil)
        #expect(table.session(bare: alice, resource: "phone")?.address == address(2))
        #expect(table.count == 1)
    }

    @Test func closeOfUnknownSessionsIsANoOp() {
        var table = SessionTable()
        #expect(table.close(bare: alice, resource: "phone", address: address(1)) == nil)
        _ = table.open(bare: alice, resource: "phone", address: address(1))
        #expect(table.close(bare: alice, resource: "tablet", address: address(1)) == nil)
        #expect(table.close(bare: bob, resource: "phone", address: address(1)) == nil)
        #expect(table.count == 1)
    }

    // MARK: Presence

    @Test func initialPresenceIsDetectedOncePerAvailability() {
        var table = SessionTable()
        _ = table.open(bare: alice, resource: "phone", address: address(1))
        let stanza = ByteBuffer(string: "<presence><show>away</show></presence>")

        #expect(table.setPresence(bare: alice, resource: "phone", available: true, priority: 1, stanza: stanza) == true)
        var entry = table.session(bare: alice, resource: "phone")
        #expect(entry?.available == true)
        #expect(entry?.priority == 1)
        #expect(entry?.presence == stanza)

        // A presence update while available is not initial.
        let update = ByteBuffer(string: "<presence><show>dnd</show></presence>")
        #expect(table.setPresence(bare: alice, resource: "phone", available: true, priority: 3, stanza: update) == false)
        entry = table.session(bare: alice, resource: "phone")
        #expect(entry?.priority == 3)
        #expect(entry?.presence == update)

        // Unavailable is never initial, and forgets the stored presence.
        #expect(table.setPresence(bare: alice, resource: "phone", available: false, priority: 0, stanza: ByteBuffer(string: "<presence type='unavailable'/>")) == false)
        entry = table.session(bare: alice, resource: "phone")
        #expect(entry?.available == false)
        #expect(entry?.presence == nil)

        // Available again after unavailable is a new initial presence.
        #expect(table.setPresence(bare: alice, resource: "phone", available: true, priority: 0, stanza: stanza) == true)
    }

    @Test func unavailableBeforeAnyPresenceIsNotInitial() {
        var table = SessionTable()
        _ = table.open(bare: alice, resource: "phone", address: address(1))
        #expect(table.setPresence(bare: alice, resource: "phone", available: false, priority: 0, stanza: nil) == false)
        #expect(table.session(bare: alice, resource: "phone")?.available == false)
    }

    @Test func presenceOfAnUnknownSessionIsIgnored() {
        var table = SessionTable()
        #expect(table.setPresence(bare: alice, resource: "phone", available: true, priority: 0, stanza: nil) == false)
        #expect(table.count == 0)
        #expect(table.users[alice] == nil)
    }

    @Test func availableSessionsAreSortedAndFiltered() {
        var table = SessionTable()
        online(&table, alice, "b", address(1), priority: 0)
        _ = table.open(bare: alice, resource: "c", address: address(2))
        online(&table, alice, "a", address(3), priority: -1)
        #expect(table.sessions(of: alice).map(\.resource) == ["a", "b", "c"])
        #expect(table.availableSessions(of: alice).map(\.resource) == ["a", "b"])
        #expect(table.sessions(of: bob).isEmpty)
    }

    // MARK: Delivery targets (RFC 6121 §8.5.2.1.1)

    @Test func messageTargetsAreTheHighestNonNegativePriority() {
        var table = SessionTable()
        online(&table, alice, "low", address(1), priority: 1)
        online(&table, alice, "high", address(2), priority: 10)
        online(&table, alice, "mid", address(3), priority: 5)
        #expect(table.messageTargets(of: alice).map(\.resource) == ["high"])
    }

    @Test func messageTargetsTiesGoToAll() {
        var table = SessionTable()
        online(&table, alice, "a", address(1), priority: 7)
        online(&table, alice, "b", address(2), priority: 7)
        online(&table, alice, "c", address(3), priority: 2)
        #expect(table.messageTargets(of: alice).map(\.resource) == ["a", "b"])
    }

    @Test func priorityZeroIsATarget() {
        var table = SessionTable()
        online(&table, alice, "a", address(1), priority: 0)
        online(&table, alice, "b", address(2), priority: -1)
        #expect(table.messageTargets(of: alice).map(\.resource) == ["a"])
    }

    @Test func negativePrioritiesOnlyMeanOffline() {
        var table = SessionTable()
        online(&table, alice, "a", address(1), priority: -1)
        online(&table, alice, "b", address(2), priority: -128)
        #expect(table.messageTargets(of: alice).isEmpty)
        #expect(table.availableSessions(of: alice).count == 2)
    }

    @Test func unavailableSessionsAreNotTargets() {
        var table = SessionTable()
        // Bound but never available, even with a (default) priority of 0.
        _ = table.open(bare: alice, resource: "silent", address: address(1))
        #expect(table.messageTargets(of: alice).isEmpty)

        online(&table, alice, "gone", address(2), priority: 100)
        online(&table, alice, "here", address(3), priority: 1)
        table.setPresence(bare: alice, resource: "gone", available: false, priority: 100, stanza: nil)
        #expect(table.messageTargets(of: alice).map(\.resource) == ["here"])
    }

    @Test func maximumPriorityIsATarget() {
        var table = SessionTable()
        online(&table, alice, "a", address(1), priority: 127)
        online(&table, alice, "b", address(2), priority: 126)
        #expect(table.messageTargets(of: alice).map(\.resource) == ["a"])
    }

    @Test func noSessionsNoTargets() {
        let table = SessionTable()
        #expect(table.messageTargets(of: alice).isEmpty)
    }

    // MARK: Front-ends leaving

    @Test func removeAllRemovesOnlyThatFrontendsSessions() {
        var table = SessionTable()
        online(&table, alice, "phone", address(1, on: "fe-1"), priority: 1)
        _ = table.open(bare: alice, resource: "tablet", address: address(1, on: "fe-2"))
        online(&table, bob, "laptop", address(2, on: "fe-1"), priority: 0)
        _ = table.open(bare: bob, resource: "desk", address: address(1, on: "fe-3"))
        _ = table.open(bare: "carol@example.com", resource: "x", address: address(3, on: "fe-1"))

        let removed = table.removeAll(frontend: "fe-1")
        let summary = removed.map { "\($0.bare)/\($0.entry.resource)" }.sorted()
        #expect(summary == ["alice@example.com/phone", "bob@example.com/laptop", "carol@example.com/x"])
        #expect(removed.allSatisfy { $0.entry.address.frontend == "fe-1" })
        // What was removed comes back with its presence state, so the caller can broadcast unavailable.
        #expect(removed.first { $0.bare == alice }?.entry.available == true)

        #expect(table.sessions(of: alice).map(\.resource) == ["tablet"])
        #expect(table.sessions(of: bob).map(\.resource) == ["desk"])
        #expect(table.users["carol@example.com"] == nil, "a user without sessions is dropped")
        #expect(table.count == 2)

        #expect(table.removeAll(frontend: "fe-1").isEmpty)
        #expect(table.removeAll(frontend: "fe-unknown").isEmpty)
        #expect(table.count == 2)
    }

    @Test func removeAllOfEverything() {
        var table = SessionTable()
        for stream in 0..<50 as Range<UInt64> {
            _ = table.open(bare: "user\(stream % 7)@example.com", resource: nil, address: address(stream, on: "fe-1"))
        }
        #expect(table.count == 50)
        #expect(table.removeAll(frontend: "fe-1").count == 50)
        #expect(table.count == 0)
        #expect(table.users.isEmpty)
    }
}
