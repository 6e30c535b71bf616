import NIOCore
import StanzaRouting
import Testing
@testable import MMGSRouter

private let alice = "alice@example.com"

private func at(_ stream: UInt64, _ frontend: String = "fe-1") -> SessionAddress { SessionAddress(frontend: frontend, stream: stream) }

@Suite struct ResourceCapTests {
    @Test func theBindBeyondTheCapIsRefusedAndARebindIsNot() {
        var table = SessionTable()
        for index in 0 ..< 3 { #expect(table.open(bare: alice, resource: "r\(index)", address: at(UInt64(index)), maxResources: 3) != nil) }
        #expect(table.open(bare: alice, resource: "r3", address: at(3), maxResources: 3) == nil, "a fourth resource")
        #expect(table.open(bare: alice, resource: nil, address: at(4), maxResources: 3) == nil, "a generated fourth resource")
        let rebind = table.open(bare: alice, resource: "r1", address: at(9), maxResources: 3)
        #expect(rebind?.replaced?.address == at(1), "taking over a bound resource stays allowed")
        #expect(table.sessions(of: alice).count == 3)
        table.close(bare: alice, resource: "r0", address: at(0))
        #expect(table.open(bare: alice, resource: "r3", address: at(3), maxResources: 3) != nil, "room again after a close")
    }
}

@Suite struct CarbonsTableTests {
    /// Two available resources at different priorities, a third with carbons: a message to the
    /// bare JID goes to the top one, the carbons session gets a copy, and no lease is granted
    /// (a front-end on a lease would deliver without the copy).
    @Test func copiesGoToCarbonsSessionsThatDidNotGetTheMessageAndVoidLeases() {
        var table = SessionTable()
        for (index, priority) in [Int8(10), 0, 0].enumerated() {
            _ = table.open(bare: alice, resource: "r\(index)", address: at(UInt64(index)))
            table.setPresence(bare: alice, resource: "r\(index)", available: true, priority: priority, stanza: nil)
        }
        var (targets, _, copies) = table.lease(to: alice, holder: "fe-2")
        #expect(targets.map(\.resource) == ["r0"] && copies.isEmpty)
        let before = table.takeRevocations().byFrontend
        #expect(before.isEmpty, "no change yet")
        let changed = table.setCarbons(bare: alice, resource: "r2", address: at(2), enabled: true)
        #expect(changed)
        let revoked = table.takeRevocations().byFrontend
        #expect(revoked["fe-2"] == [alice], "enabling carbons voids the lease fe-2 held")
        (targets, _, copies) = table.lease(to: alice, holder: "fe-2")
        #expect(targets.map(\.resource) == ["r0"] && copies.map(\.resource) == ["r2"])
        _ = table.takeRevocations()
        table.setPresence(bare: alice, resource: "r1", available: true, priority: 1, stanza: nil)
        let afterCopies = table.takeRevocations().byFrontend
        #expect(afterCopies.isEmpty, "the copy-bearing lease was never granted")
        (targets, _, copies) = table.lease(to: "\(alice)/r2", holder: "fe-3")
        #expect(targets.map(\.resource) == ["r2"] && copies.isEmpty, "the carbons session itself is the recipient")
        let granted = table.takeRevocations()
        #expect(granted.byFrontend.isEmpty)
        table.setPresence(bare: alice, resource: "r2", available: true, priority: 2, stanza: nil)
        let afterGrant = table.takeRevocations().byFrontend
        #expect(afterGrant["fe-3"] == [alice], "a lease on the carbons session itself, with no other copies due, is granted")
        (targets, _, copies) = table.lease(to: "\(alice)/r1", holder: "fe-4")
        #expect(targets.map(\.resource) == ["r1"] && copies.map(\.resource) == ["r2"], "any message to r1 needs r2's copy: no lease")
        table.setPresence(bare: alice, resource: "r1", available: true, priority: 3, stanza: nil)
        let none = table.takeRevocations().byFrontend
        #expect(none["fe-4"] == nil)
        let foreign = table.setCarbons(bare: alice, resource: "r2", address: at(7), enabled: false)
        #expect(!foreign, "only the session's own stream may change it")
    }
}

@Suite struct StanzaAddressingTests {
    @Test(arguments: [
        ("<presence from='a@x/r'/>", "<presence to='a@x/s' from='a@x/r'/>"),
        ("<presence from='a@x/r' to='b@x'><show>away</show></presence>", "<presence from='a@x/r' to='a@x/s'><show>away</show></presence>"),
        ("<presence to=\"old\" from='a@x/r'>x</presence>", "<presence to='a@x/s' from='a@x/r'>x</presence>"),
        ("<presence>", "<presence to='a@x/s'>"),
    ])
    func toIsSetOrReplaced(input: String, expected: String) {
        let out = StanzaAddressing.addressed(ByteBuffer(string: input), to: "a@x/s")
        #expect(String(buffer: out) == expected)
    }

    @Test func aCarbonWrapsTheOriginalInJabberClient() {
        let original = ByteBuffer(string: "<message from='a@x/r' to='b@x' type='chat'><body>hi &amp; bye</body></message>")
        let copy = String(buffer: StanzaAddressing.carbon(original, direction: .sent, account: "a@x", to: "a@x/t"))
        #expect(copy == "<message from='a@x' to='a@x/t' type='chat'><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>"
            + "<message xmlns='jabber:client' from='a@x/r' to='b@x' type='chat'><body>hi &amp; bye</body></message></forwarded></sent></message>")
    }

    @Test func valuesAreEscapedAndBrokenBytesLeftAlone() {
        #expect(String(buffer: StanzaAddressing.addressed(ByteBuffer(string: "<message/>"), to: "o'k@x")) == "<message to='o&apos;k@x'/>")
        #expect(String(buffer: StanzaAddressing.addressed(ByteBuffer(string: "<message to='unterminated"), to: "a@x")) == "<message to='unterminated")
        #expect(String(buffer: StanzaAddressing.addressed(ByteBuffer(string: "text"), to: "a@x")) == "text")
    }
}

@Suite struct RoutedStanzaFlagsTests {
    @Test func theCarbonsFlagRoundTripsAndIsFalseFromAnOlderPeer() throws {
        let stanza = RoutedStanza(kind: .message, type: "chat", to: "b@x", from: "a@x/r", id: "1", sender: at(1), stanza: ByteBuffer(string: "<message/>"), carbonEligible: true)
        var encoded = try stanza.encoded()
        #expect(try RoutedStanza.decode(encoded) == stanza)
        encoded.moveWriterIndex(to: encoded.writerIndex - 1)  // what a peer without the field sends
        #expect(try RoutedStanza.decode(encoded).carbonEligible == false)
    }
}
