import NIOCore
import StanzaRouting
import Testing
@testable import MMGSRouter

private let bob = "bob@example.com"
private let carol = "carol@example.com"
private let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

private func at(_ frontend: String, _ stream: UInt64) -> SessionAddress { SessionAddress(frontend: frontend, stream: stream) }

/// The front-end's half: what a lease answers, and which of a grant and a revocation wins when
/// they arrive out of order.
@Suite struct LeaseCacheTests {
    @Test func aGrantCoversExactlyTheAddressItWasMadeFor() {
        var cache = LeaseCache()
        cache.grant(DeliveryLease(version: 5, targets: [at("fe-2", 7)]), to: bob, bare: bob, router: "r-1", now: t0)
        #expect(cache.targets(for: bob, bare: bob, router: "r-1", now: t0) == [at("fe-2", 7)])
        #expect(cache.targets(for: "\(bob)/phone", bare: bob, router: "r-1", now: t0) == nil, "a full JID is routed on its own")
        #expect(cache.targets(for: carol, bare: carol, router: "r-1", now: t0) == nil)
    }

    @Test func aLeaseFromAnotherRouterIsNotUsed() {
        // The placement moved bob to r-2: r-1's word on him no longer counts.
        var cache = LeaseCache()
        cache.grant(DeliveryLease(version: 5, targets: [at("fe-2", 7)]), to: bob, bare: bob, router: "r-1", now: t0)
        #expect(cache.targets(for: bob, bare: bob, router: "r-2", now: t0) == nil)
    }

    @Test func leasesExpire() {
        var cache = LeaseCache(lifetime: .seconds(10))
        cache.grant(DeliveryLease(version: 5, targets: [at("fe-2", 7)]), to: bob, bare: bob, router: "r-1", now: t0)
        #expect(cache.targets(for: bob, bare: bob, router: "r-1", now: t0 + .seconds(9)) != nil)
        #expect(cache.targets(for: bob, bare: bob, router: "r-1", now: t0 + .seconds(10)) == nil)
    }

    @Test func aRevocationVoidsEveryAddressOfTheBareJID() {
        var cache = LeaseCache()
        cache.grant(DeliveryLease(version: 5, targets: [at("fe-2", 7)]), to: bob, bare: bob, router: "r-1", now: t0)
        cache.grant(DeliveryLease(version: 5, targets: [at("fe-2", 8)]), to: "\(bob)/tablet", bare: bob, router: "r-1", now: t0)
        #expect(cache.targets(for: "\(bob)/tablet", bare: bob, router: "r-1", now: t0) == [at("fe-2", 8)])
        cache.revoke([bob], router: "r-1", version: 6, now: t0)
        #expect(cache.targets(for: bob, bare: bob, router: "r-1", now: t0) == nil)
        #expect(cache.targets(for: "\(bob)/tablet", bare: bob, router: "r-1", now: t0) == nil)
    }

    @Test func aGrantArrivingAfterTheRevocationThatVoidsItIsRefused() {
        // The router granted at version 5, then bob's sessions changed (version 6) and the
        // revocation overtook the grant on its way here.
        var cache = LeaseCache()
        cache.revoke([bob], router: "r-1", version: 6, now: t0)
        cache.grant(DeliveryLease(version: 5, targets: [at("fe-2", 7)]), to: bob, bare: bob, router: "r-1", now: t0)
        #expect(cache.targets(for: bob, bare: bob, router: "r-1", now: t0) == nil)
        // A grant made after the change is good.
        cache.grant(DeliveryLease(version: 6, targets: [at("fe-1", 9)]), to: bob, bare: bob, router: "r-1", now: t0)
        #expect(cache.targets(for: bob, bare: bob, router: "r-1", now: t0) == [at("fe-1", 9)])
    }

    @Test func aLateRevocationOfAnOlderChangeLeavesANewerGrant() {
        var cache = LeaseCache()
        cache.grant(DeliveryLease(version: 9, targets: [at("fe-2", 7)]), to: bob, bare: bob, router: "r-1", now: t0)
        cache.revoke([bob], router: "r-1", version: 8, now: t0)
        #expect(cache.targets(for: bob, bare: bob, router: "r-1", now: t0) == [at("fe-2", 7)])
    }

    @Test func aNewerGrantDropsOlderAddressesThatARevocationMayStillBeChasing() {
        var cache = LeaseCache()
        cache.grant(DeliveryLease(version: 5, targets: [at("fe-2", 8)]), to: "\(bob)/tablet", bare: bob, router: "r-1", now: t0)
        cache.grant(DeliveryLease(version: 7, targets: [at("fe-2", 7)]), to: bob, bare: bob, router: "r-1", now: t0)
        #expect(cache.targets(for: "\(bob)/tablet", bare: bob, router: "r-1", now: t0) == nil)
        #expect(cache.targets(for: bob, bare: bob, router: "r-1", now: t0) == [at("fe-2", 7)])
        // The revocation of version 6 arrives late: the version-7 grant stands.
        cache.revoke([bob], router: "r-1", version: 6, now: t0)
        #expect(cache.targets(for: bob, bare: bob, router: "r-1", now: t0) == [at("fe-2", 7)])
    }

    @Test func dropForgetsAndExpiredEntriesArePruned() {
        var cache = LeaseCache(lifetime: .seconds(1))
        cache.grant(DeliveryLease(version: 1, targets: [at("fe-2", 7)]), to: bob, bare: bob, router: "r-1", now: t0)
        cache.drop(bob)
        #expect(cache.targets(for: bob, bare: bob, router: "r-1", now: t0) == nil)
        for i in 0..<1023 {
            cache.revoke(["u\(i)@example.com"], router: "r-1", version: 1, now: t0)
        }
        #expect(cache.count == 1023)
        cache.revoke([carol], router: "r-1", version: 1, now: t0 + .seconds(2))
        #expect(cache.count == 1, "the 1,024th entry prunes every expired one")
    }
}

/// The router's half: a lease names the streams the fast path would use, and every change that
/// could move them revokes the holders.
@Suite struct LeaseHolderTests {
    private func online(_ table: inout SessionTable, _ resource: String, _ address: SessionAddress, priority: Int8 = 0) {
        _ = table.open(bare: bob, resource: resource, address: address)
        table.setPresence(bare: bob, resource: resource, available: true, priority: priority, stanza: ByteBuffer(string: "<presence/>"))
    }

    @Test func aLeaseNamesTheFastPathTargetsAndItsHolder() {
        var table = SessionTable()
        online(&table, "phone", at("fe-2", 1), priority: 5)
        online(&table, "tablet", at("fe-2", 2), priority: 1)
        let bare = table.lease(to: bob, holder: "fe-1")
        #expect(bare.targets.map(\.address) == [at("fe-2", 1)])
        let full = table.lease(to: "\(bob)/tablet", holder: "fe-1")
        #expect(full.targets.map(\.address) == [at("fe-2", 2)])
        #expect(full.version == bare.version)
        #expect(table.takeRevocations().byFrontend.isEmpty, "nothing changed yet")
    }

    @Test func everyRetargetingChangeRevokesTheHolders() {
        var table = SessionTable()
        online(&table, "phone", at("fe-2", 1))
        let granted = table.lease(to: bob, holder: "fe-1").version

        // A new status text does not move messages: no revocation.
        table.setPresence(bare: bob, resource: "phone", available: true, priority: 0, stanza: ByteBuffer(string: "<presence><status>away</status></presence>"))
        #expect(table.takeRevocations().byFrontend.isEmpty)

        // A priority change does.
        table.setPresence(bare: bob, resource: "phone", available: true, priority: 3, stanza: nil)
        let first = table.takeRevocations()
        #expect(first.byFrontend == ["fe-1": [bob]])
        #expect(first.version > granted)
        #expect(table.takeRevocations().byFrontend.isEmpty, "taken once")

        // A holder is revoked once per grant: a second change without a new lease tells no one.
        _ = table.open(bare: bob, resource: "tablet", address: at("fe-3", 4))
        #expect(table.takeRevocations().byFrontend.isEmpty)

        _ = table.lease(to: bob, holder: "fe-1")
        _ = table.lease(to: bob, holder: "fe-3")
        _ = table.open(bare: bob, resource: "watch", address: at("fe-3", 5))
        #expect(table.takeRevocations().byFrontend == ["fe-1": [bob], "fe-3": [bob]])

        _ = table.lease(to: bob, holder: "fe-1")
        table.close(bare: bob, resource: "watch", address: at("fe-3", 5))
        #expect(table.takeRevocations().byFrontend == ["fe-1": [bob]])
    }

    @Test func noLeaseWhenThereIsNothingToDeliverTo() {
        var table = SessionTable()
        _ = table.open(bare: bob, resource: "phone", address: at("fe-2", 1))  // bound, not available
        #expect(table.lease(to: bob, holder: "fe-1").targets.isEmpty)
        table.setPresence(bare: bob, resource: "phone", available: true, priority: 0, stanza: nil)
        #expect(table.takeRevocations().byFrontend.isEmpty, "an empty answer made no holder")
    }

    @Test func aFrontEndLeavingRevokesTheOthersAndForgetsItsOwn() {
        var table = SessionTable()
        online(&table, "phone", at("fe-2", 1))
        _ = table.lease(to: bob, holder: "fe-1")
        _ = table.lease(to: bob, holder: "fe-2")
        _ = table.removeAll(frontend: "fe-2")
        #expect(table.takeRevocations().byFrontend == ["fe-1": [bob]])
    }

    @Test func anUnacknowledgedRevocationGoesOutAgain() {
        var table = SessionTable()
        online(&table, "phone", at("fe-2", 1))
        _ = table.lease(to: bob, holder: "fe-1")
        table.close(bare: bob, resource: "phone", address: at("fe-2", 1))
        let first = table.takeRevocations().byFrontend
        #expect(first == ["fe-1": [bob]])
        table.requeueRevocations([bob], for: "fe-1")
        #expect(table.takeRevocations().byFrontend == ["fe-1": [bob]])
        #expect(table.takeRevocations().byFrontend.isEmpty)
    }

    @Test func versionsGrowAcrossChanges() {
        var table = SessionTable()
        let before = table.lease(to: bob, holder: nil).version
        online(&table, "phone", at("fe-2", 1))
        #expect(table.lease(to: bob, holder: nil).version > before)
    }

    @Test func messagesRoundTrip() throws {
        let lease = DeliveryLease(version: 1 << 52, targets: [at("fe-2", 7), at("fe-3", 1 << 40)])
        #expect(try DeliveryLease.decode(lease.encoded()) == lease)
        let revocation = LeaseRevocation(router: "r-1", version: 99, bareJIDs: [bob, carol])
        #expect(try LeaseRevocation.decode(revocation.encoded()) == revocation)
        var empty = ByteBuffer()
        empty.writeInteger(UInt64(1))
        empty.writeInteger(UInt8(0))
        #expect(throws: (any Error).self) { try DeliveryLease.decode(empty) }
    }
}
