import StanzaRouting
import Testing
@testable import MMGSRouter

private let a = "a@example.com"
private let b = "b@example.com"

/// The owner-side state of one (owner, contact) pair, as RFC 6121 Appendix A names it:
/// the subscription (nil = no roster item at all), `ask` (Pending Out) and Pending In.
private struct PairState: Hashable, CustomStringConvertible {
    var subscription: RosterItem.Subscription?
    var ask = false
    var pendingIn = false

    static let nothing = PairState(subscription: nil)
    static let nothingIn = PairState(subscription: nil, pendingIn: true)
    static let none = PairState(subscription: RosterItem.Subscription.none)
    static let noneOut = PairState(subscription: RosterItem.Subscription.none, ask: true)
    static let noneIn = PairState(subscription: RosterItem.Subscription.none, pendingIn: true)
    static let noneOutIn = PairState(subscription: RosterItem.Subscription.none, ask: true, pendingIn: true)
    static let to = PairState(subscription: .to)
    static let toIn = PairState(subscription: .to, pendingIn: true)
    static let from = PairState(subscription: .from)
    static let fromOut = PairState(subscription: .from, ask: true)
    static let both = PairState(subscription: .both)

    var description: String {
        var text = subscription.map { "\($0)".capitalized } ?? "(no item)"
        if ask && pendingIn { text += " + Pending Out+In" } else if ask { text += " + Pending Out" } else if pendingIn { text += " + Pending In" }
        return text
    }

    /// Puts a fresh book in this state for (owner, contact).
    func book(owner: String, contact: String) -> RosterBook {
        var book = RosterBook()
        if let subscription {
            book.restore(owner: owner, item: RosterItem(jid: contact, name: "Contact", subscription: subscription, askSubscribe: ask, groups: ["G"]))
        }
        if pendingIn { book.restorePending(owner: owner, contact: contact, pending: true) }
        return book
    }

    static func of(_ book: RosterBook, owner: String, contact: String) -> PairState {
        let item = book.item(of: owner, contact: contact)
        return PairState(subscription: item?.subscription, ask: item?.askSubscribe ?? false,
                         pendingIn: book.pendingIn[owner]?.contains(contact) ?? false)
    }
}

private enum Event: String, CaseIterable, CustomStringConvertible {
    case outboundSubscribe, outboundUnsubscribe, outboundSubscribed, outboundUnsubscribed
    case inboundSubscribe, inboundUnsubscribe, inboundSubscribed, inboundUnsubscribed

    var description: String { rawValue }

    func apply(_ book: inout RosterBook, owner: String, contact: String) -> RosterBook.Outcome {
        switch self {
        case .outboundSubscribe: book.outboundSubscribe(owner: owner, contact: contact)
        case .outboundUnsubscribe: book.outboundUnsubscribe(owner: owner, contact: contact)
        case .outboundSubscribed: book.outboundSubscribed(owner: owner, contact: contact)
        case .outboundUnsubscribed: book.outboundUnsubscribed(owner: owner, contact: contact)
        case .inboundSubscribe: book.inboundSubscribe(owner: owner, from: contact)
        case .inboundUnsubscribe: book.inboundUnsubscribe(owner: owner, from: contact)
        case .inboundSubscribed: book.inboundSubscribed(owner: owner, from: contact)
        case .inboundUnsubscribed: book.inboundUnsubscribed(owner: owner, from: contact)
        }
    }

    /// RFC 6121 Appendix A: the state after this event, for each state before it. States with
    /// no roster item at all (a stranger, possibly with a pending request) are added: they behave
    /// like "None" except that the item only appears when the state needs one.
    var table: [PairState: PairState] {
        switch self {
        case .outboundSubscribe: // A.2.1
            [.none: .noneOut, .noneOut: .noneOut, .noneIn: .noneOutIn, .noneOutIn: .noneOutIn,
             .to: .to, .toIn: .toIn, .from: .fromOut, .fromOut: .fromOut, .both: .both,
             .nothing: .noneOut, .nothingIn: .noneOutIn]
        case .outboundUnsubscribe: // A.2.2
            [.none: .none, .noneOut: .none, .noneIn: .noneIn, .noneOutIn: .noneIn,
             .to: .none, .toIn: .noneIn, .from: .from, .fromOut: .from, .both: .from,
             .nothing: .nothing, .nothingIn: .nothingIn]
        case .outboundSubscribed: // A.2.3 (no pre-approval support)
            [.none: .none, .noneOut: .noneOut, .noneIn: .from, .noneOutIn: .fromOut,
             .to: .to, .toIn: .both, .from: .from, .fromOut: .fromOut, .both: .both,
             .nothing: .nothing, .nothingIn: .from]
        case .outboundUnsubscribed: // A.2.4
            [.none: .none, .noneOut: .noneOut, .noneIn: .none, .noneOutIn: .noneOut,
             .to: .to, .toIn: .to, .from: .none, .fromOut: .noneOut, .both: .to,
             .nothing: .nothing, .nothingIn: .nothing]
        case .inboundSubscribe: // A.3.1
            [.none: .noneIn, .noneOut: .noneOutIn, .noneIn: .noneIn, .noneOutIn: .noneOutIn,
             .to: .toIn, .toIn: .toIn, .from: .from, .fromOut: .fromOut, .both: .both,
             .nothing: .nothingIn, .nothingIn: .nothingIn]
        case .inboundUnsubscribe: // A.3.2
            [.none: .none, .noneOut: .noneOut, .noneIn: .none, .noneOutIn: .noneOut,
             .to: .to, .toIn: .to, .from: .none, .fromOut: .noneOut, .both: .to,
             .nothing: .nothing, .nothingIn: .nothing]
        case .inboundSubscribed: // A.3.3
            [.none: .none, .noneOut: .to, .noneIn: .noneIn, .noneOutIn: .toIn,
             .to: .to, .toIn: .toIn, .from: .from, .fromOut: .both, .both: .both,
             .nothing: .nothing, .nothingIn: .nothingIn]
        case .inboundUnsubscribed: // A.3.4
            [.none: .none, .noneOut: .none, .noneIn: .noneIn, .noneOutIn: .noneIn,
             .to: .none, .toIn: .noneIn, .from: .from, .fromOut: .from, .both: .from,
             .nothing: .nothing, .nothingIn: .nothingIn]
        }
    }
}

private let allStates: [PairState] = [.none, .noneOut, .noneIn, .noneOutIn, .to, .toIn, .from, .fromOut, .both, .nothing, .nothingIn]

@Suite struct RosterBookTests {
    // MARK: Appendix A, state by state

    @Test(arguments: Event.allCases)
    fileprivate func appendixATransitions(_ event: Event) {
        for before in allStates {
            var book = before.book(owner: a, contact: b)
            let itemBefore = book.item(of: a, contact: b)
            let outcome = event.apply(&book, owner: a, contact: b)
            let after = PairState.of(book, owner: a, contact: b)
            let expected = event.table[before]!
            #expect(after == expected, "\(event) in \(before): got \(after), RFC 6121 Appendix A says \(expected)")

            // The outcome describes exactly what changed, so the caller can persist and push it.
            let itemAfter = book.item(of: a, contact: b)
            if itemAfter != itemBefore {
                #expect(outcome.changed == [itemAfter ?? RosterItem(jid: b, subscription: .remove)], "\(event) in \(before): changed items")
            } else {
                #expect(outcome.changed.isEmpty, "\(event) in \(before): nothing changed but \(outcome.changed) reported")
            }
            #expect(outcome.pendingChanged == (before.pendingIn != after.pendingIn), "\(event) in \(before): pendingChanged")

            // Name and groups survive every subscription change.
            if let itemBefore, let itemAfter {
                #expect(itemAfter.name == itemBefore.name && itemAfter.groups == itemBefore.groups, "\(event) in \(before)")
            }

            // Whether the stanza goes on.
            let fromOrBoth = before.subscription == .from || before.subscription == .both
            switch event {
            case .outboundSubscribe, .outboundUnsubscribe, .outboundUnsubscribed:
                #expect(outcome.forward, "\(event) in \(before): the owner's stanza is always routed")
                #expect(!outcome.autoApprove)
            case .outboundSubscribed:
                #expect(outcome.forward == before.pendingIn, "\(event) in \(before): only an answer to a pending request is routed")
                #expect(!outcome.autoApprove)
            case .inboundSubscribe:
                #expect(outcome.autoApprove == fromOrBoth, "\(event) in \(before): autoApprove")
                #expect(outcome.forward == !fromOrBoth, "\(event) in \(before): forward")
            case .inboundUnsubscribe:
                // §3.3.3: delivered only if the contact was a subscriber (From, From + Pending Out, Both).
                #expect(outcome.forward == fromOrBoth, "\(event) in \(before): forward")
                #expect(!outcome.autoApprove)
            case .inboundSubscribed:
                // §3.1.6: delivered only if it answers our pending request.
                #expect(outcome.forward == before.ask, "\(event) in \(before): forward")
                #expect(!outcome.autoApprove)
            case .inboundUnsubscribed:
                #expect(outcome.forward == (itemAfter != itemBefore), "\(event) in \(before): forward")
                #expect(!outcome.autoApprove)
            }

            // Nothing leaks into the other direction or to other owners.
            #expect(book.item(of: b, contact: a) == nil)
            #expect(book.pendingIn[b]?.contains(a) != true)
        }
    }

    // MARK: The whole handshake between two owners

    @Test func fullHandshakeAndTeardown() {
        var book = RosterBook()

        // 1. A subscribes to B: A's item is None + Pending Out, and the stanza goes to B.
        var outcome = book.outboundSubscribe(owner: a, contact: b)
        #expect(outcome.forward)
        #expect(outcome.changed == [RosterItem(jid: b, subscription: .none, askSubscribe: true)])
        #expect(PairState.of(book, owner: a, contact: b) == .noneOut)

        // 2. B's router receives it: a pending request, delivered to B; B's roster is untouched.
        outcome = book.inboundSubscribe(owner: b, from: a)
        #expect(outcome.forward)
        #expect(!outcome.autoApprove)
        #expect(outcome.pendingChanged)
        #expect(outcome.changed.isEmpty)
        #expect(book.pendingIn[b] == [a])
        #expect(book.item(of: b, contact: a) == nil)

        // 3. B approves: B has A as From, the request is answered.
        outcome = book.outboundSubscribed(owner: b, contact: a)
        #expect(outcome.forward)
        #expect(outcome.pendingChanged)
        #expect(outcome.changed == [RosterItem(jid: a, subscription: .from)])
        #expect(PairState.of(book, owner: b, contact: a) == .from)
        #expect(book.subscribers(of: b) == [a])
        #expect(book.subscriptions(of: b).isEmpty)

        // 4. A's router receives subscribed: To, ask cleared, delivered to A.
        outcome = book.inboundSubscribed(owner: a, from: b)
        #expect(outcome.forward)
        #expect(outcome.changed == [RosterItem(jid: b, subscription: .to)])
        #expect(PairState.of(book, owner: a, contact: b) == .to)
        #expect(book.subscriptions(of: a) == [b])
        #expect(book.subscribers(of: a).isEmpty)

        // 5. B subscribes to A.
        outcome = book.outboundSubscribe(owner: b, contact: a)
        #expect(outcome.forward)
        #expect(PairState.of(book, owner: b, contact: a) == .fromOut)

        // 6. A's router: A only has a To subscription, so this is a real request (no auto-approve).
        outcome = book.inboundSubscribe(owner: a, from: b)
        #expect(outcome.forward)
        #expect(!outcome.autoApprove)
        #expect(PairState.of(book, owner: a, contact: b) == .toIn)

        // 7. A approves: Both.
        outcome = book.outboundSubscribed(owner: a, contact: b)
        #expect(outcome.forward)
        #expect(PairState.of(book, owner: a, contact: b) == .both)

        // 8. B's router receives subscribed: Both.
        outcome = book.inboundSubscribed(owner: b, from: a)
        #expect(outcome.forward)
        #expect(PairState.of(book, owner: b, contact: a) == .both)

        #expect(book.subscriptions(of: a) == [b] && book.subscribers(of: a) == [b])
        #expect(book.subscriptions(of: b) == [a] && book.subscribers(of: b) == [a])
        #expect(book.pendingIn.values.allSatisfy { $0.isEmpty })

        // 9. A unsubscribes from B: A Both → From, B Both → To.
        outcome = book.outboundUnsubscribe(owner: a, contact: b)
        #expect(outcome.forward)
        #expect(PairState.of(book, owner: a, contact: b) == .from)
        outcome = book.inboundUnsubscribe(owner: b, from: a)
        #expect(outcome.forward)
        #expect(PairState.of(book, owner: b, contact: a) == .to)

        // 10. A cancels B's subscription to A: A From → None, B To → None.
        outcome = book.outboundUnsubscribed(owner: a, contact: b)
        #expect(outcome.forward)
        #expect(PairState.of(book, owner: a, contact: b) == .none)
        outcome = book.inboundUnsubscribed(owner: b, from: a)
        #expect(outcome.forward)
        #expect(PairState.of(book, owner: b, contact: a) == .none)

        #expect(book.subscriptions(of: a).isEmpty && book.subscribers(of: a).isEmpty)
        #expect(book.subscriptions(of: b).isEmpty && book.subscribers(of: b).isEmpty)
        // The items stay in the rosters (with None) until the owners remove them.
        #expect(book.items(of: a).map(\.jid) == [b])
        #expect(book.items(of: b).map(\.jid) == [a])
    }

    /// Both directions torn down the other way round: B unsubscribes, B cancels.
    @Test func teardownFromTheOtherSide() {
        var book = RosterBook()
        book.restore(owner: a, item: RosterItem(jid: b, subscription: .both))
        book.restore(owner: b, item: RosterItem(jid: a, subscription: .both))

        // B stops receiving A's presence.
        #expect(book.outboundUnsubscribe(owner: b, contact: a).forward)
        #expect(book.inboundUnsubscribe(owner: a, from: b).forward)
        #expect(PairState.of(book, owner: b, contact: a) == .from)
        #expect(PairState.of(book, owner: a, contact: b) == .to)

        // B stops A receiving B's presence.
        #expect(book.outboundUnsubscribed(owner: b, contact: a).forward)
        #expect(book.inboundUnsubscribed(owner: a, from: b).forward)
        #expect(PairState.of(book, owner: b, contact: a) == .none)
        #expect(PairState.of(book, owner: a, contact: b) == .none)
    }

    /// B refuses A's request: A's ask is cleared, B's pending request is gone.
    @Test func refusedRequest() {
        var book = RosterBook()
        _ = book.outboundSubscribe(owner: a, contact: b)
        _ = book.inboundSubscribe(owner: b, from: a)

        let refusal = book.outboundUnsubscribed(owner: b, contact: a)
        #expect(refusal.forward)
        #expect(refusal.pendingChanged)
        #expect(refusal.changed.isEmpty, "B never had A in its roster")
        #expect(book.pendingIn[b]?.contains(a) != true)

        let received = book.inboundUnsubscribed(owner: a, from: b)
        #expect(received.forward)
        #expect(received.changed == [RosterItem(jid: b, subscription: .none, askSubscribe: false)])
        #expect(PairState.of(book, owner: a, contact: b) == .none)
    }

    /// A withdraws its own request before B answers.
    @Test func withdrawnRequest() {
        var book = RosterBook()
        _ = book.outboundSubscribe(owner: a, contact: b)
        _ = book.inboundSubscribe(owner: b, from: a)

        let withdrawal = book.outboundUnsubscribe(owner: a, contact: b)
        #expect(withdrawal.forward)
        #expect(PairState.of(book, owner: a, contact: b) == .none)

        let received = book.inboundUnsubscribe(owner: b, from: a)
        #expect(received.pendingChanged)
        #expect(book.pendingIn[b]?.contains(a) != true)
        // B's late approval is now ignored.
        let late = book.outboundSubscribed(owner: b, contact: a)
        #expect(late == RosterBook.Outcome())
        #expect(book.item(of: b, contact: a) == nil)
    }

    // MARK: Auto-approval and ignored answers

    @Test func autoApproveWhenContactAlreadyHasFrom() {
        for subscription in [RosterItem.Subscription.from, .both] {
            var book = RosterBook()
            book.restore(owner: b, item: RosterItem(jid: a, subscription: subscription))
            let outcome = book.inboundSubscribe(owner: b, from: a)
            #expect(outcome.autoApprove, "\(subscription)")
            #expect(!outcome.forward, "\(subscription): the owner is not asked again")
            #expect(!outcome.pendingChanged)
            #expect(outcome.changed.isEmpty)
            #expect(book.pendingIn[b]?.contains(a) != true)
            #expect(book.item(of: b, contact: a)?.subscription == subscription)
        }
    }

    /// A lost its side (roster remove), B still has A as From: A's new request is answered at once.
    @Test func autoApproveRestoresTheLostSide() {
        var book = RosterBook()
        book.restore(owner: b, item: RosterItem(jid: a, subscription: .from))
        _ = book.outboundSubscribe(owner: a, contact: b)
        let atB = book.inboundSubscribe(owner: b, from: a)
        #expect(atB.autoApprove)
        // The router answers `subscribed` on B's behalf; A's router receives it.
        let atA = book.inboundSubscribed(owner: a, from: b)
        #expect(atA.forward)
        #expect(PairState.of(book, owner: a, contact: b) == .to)
    }

    @Test func inboundSubscribedWithoutAskIsIgnored() {
        var book = RosterBook()
        // No item at all.
        #expect(book.inboundSubscribed(owner: a, from: b) == RosterBook.Outcome())
        #expect(book.item(of: a, contact: b) == nil)
        // An item without ask.
        book.restore(owner: a, item: RosterItem(jid: b, subscription: .none))
        #expect(book.inboundSubscribed(owner: a, from: b) == RosterBook.Outcome())
        #expect(PairState.of(book, owner: a, contact: b) == .none)
        // A From item without ask does not become Both.
        book.restore(owner: a, item: RosterItem(jid: b, subscription: .from))
        #expect(book.inboundSubscribed(owner: a, from: b) == RosterBook.Outcome())
        #expect(PairState.of(book, owner: a, contact: b) == .from)
    }

    @Test func outboundSubscribedWithoutRequestIsIgnored() {
        var book = RosterBook()
        #expect(book.outboundSubscribed(owner: b, contact: a) == RosterBook.Outcome())
        #expect(book.item(of: b, contact: a) == nil)
        book.restore(owner: b, item: RosterItem(jid: a, subscription: .none))
        #expect(book.outboundSubscribed(owner: b, contact: a) == RosterBook.Outcome())
        #expect(PairState.of(book, owner: b, contact: a) == .none)
        // A request pending for another contact does not count.
        book.restorePending(owner: b, contact: "c@example.com", pending: true)
        #expect(book.outboundSubscribed(owner: b, contact: a) == RosterBook.Outcome())
        #expect(book.pendingIn[b] == ["c@example.com"])
    }

    @Test func repeatedSubscribeIsIdempotent() {
        var book = RosterBook()
        #expect(!book.outboundSubscribe(owner: a, contact: b).changed.isEmpty)
        let again = book.outboundSubscribe(owner: a, contact: b)
        #expect(again.forward)
        #expect(again.changed.isEmpty)

        #expect(book.inboundSubscribe(owner: b, from: a).pendingChanged)
        let duplicate = book.inboundSubscribe(owner: b, from: a)
        #expect(!duplicate.pendingChanged)
        #expect(book.pendingIn[b] == [a])
    }

    // MARK: Roster management

    @Test func rosterSetKeepsTheSubscription() {
        var book = RosterBook()
        book.restore(owner: a, item: RosterItem(jid: b, name: "Old", subscription: .to, groups: ["X"]))
        // The client tries to set everything.
        let outcome = book.set(owner: a, item: RosterItem(jid: b, name: "Bob ✨", subscription: .both, askSubscribe: true, pendingIn: true, groups: ["Friends", "Work"]))
        let expected = RosterItem(jid: b, name: "Bob ✨", subscription: .to, askSubscribe: false, pendingIn: false, groups: ["Friends", "Work"])
        #expect(outcome.changed == [expected])
        #expect(!outcome.forward && !outcome.autoApprove && !outcome.pendingChanged)
        #expect(book.item(of: a, contact: b) == expected)

        // Clearing the name and groups.
        _ = book.set(owner: a, item: RosterItem(jid: b))
        #expect(book.item(of: a, contact: b) == RosterItem(jid: b, subscription: .to))
    }

    @Test func rosterSetOfANewContactStartsAtNone() {
        var book = RosterBook()
        let outcome = book.set(owner: a, item: RosterItem(jid: b, name: "B", subscription: .from, askSubscribe: true, groups: ["G"]))
        #expect(outcome.changed == [RosterItem(jid: b, name: "B", subscription: .none, groups: ["G"])])
        #expect(PairState.of(book, owner: a, contact: b) == .none)
        #expect(book.subscribers(of: a).isEmpty)
    }

    @Test func rosterSetKeepsAPendingAsk() {
        var book = RosterBook()
        _ = book.outboundSubscribe(owner: a, contact: b)
        _ = book.set(owner: a, item: RosterItem(jid: b, name: "B"))
        #expect(PairState.of(book, owner: a, contact: b) == .noneOut)
        #expect(book.item(of: a, contact: b)?.name == "B")
    }

    @Test func removeReturnsTheOldItemAndClearsPending() {
        var book = RosterBook()
        let old = RosterItem(jid: a, name: "A", subscription: .from, askSubscribe: true, groups: ["G"])
        book.restore(owner: b, item: old)
        book.restorePending(owner: b, contact: a, pending: true)
        book.restore(owner: b, item: RosterItem(jid: "c@example.com", subscription: .both))

        let (outcome, removed) = book.remove(owner: b, contact: a)
        #expect(removed == old)
        #expect(outcome.changed == [RosterItem(jid: a, subscription: .remove)])
        #expect(outcome.pendingChanged)
        #expect(!outcome.forward)
        #expect(book.item(of: b, contact: a) == nil)
        #expect(book.pendingIn[b]?.contains(a) != true)
        #expect(book.items(of: b).map(\.jid) == ["c@example.com"])
    }

    @Test func removeWithoutPendingDoesNotReportPending() {
        var book = RosterBook()
        book.restore(owner: b, item: RosterItem(jid: a, subscription: .to))
        let (outcome, removed) = book.remove(owner: b, contact: a)
        #expect(removed?.subscription == .to)
        #expect(!outcome.pendingChanged)
    }

    @Test func removeOfAnUnknownContact() {
        var book = RosterBook()
        let (outcome, removed) = book.remove(owner: a, contact: b)
        #expect(removed == nil)
        #expect(outcome == RosterBook.Outcome())
    }

    /// The caller sends unsubscribe and unsubscribed after a remove of a Both item (§2.5.2);
    /// the contact's side goes back to None.
    @Test func removeOfABothItemTearsDownTheContactsSide() {
        var book = RosterBook()
        book.restore(owner: a, item: RosterItem(jid: b, subscription: .both))
        book.restore(owner: b, item: RosterItem(jid: a, subscription: .both))
        let (_, old) = book.remove(owner: a, contact: b)
        #expect(old?.subscription == .both)
        _ = book.inboundUnsubscribe(owner: b, from: a)
        _ = book.inboundUnsubscribed(owner: b, from: a)
        #expect(PairState.of(book, owner: b, contact: a) == .none)
        #expect(book.item(of: a, contact: b) == nil)
    }

    // MARK: Lists and restore

    @Test func subscriptionAndSubscriberLists() {
        var book = RosterBook()
        let states: [(String, RosterItem.Subscription, Bool)] = [
            ("n@x", .none, true), ("t@x", .to, false), ("f@x", .from, true), ("b@x", .both, false),
            ("t2@x", .to, false), ("f2@x", .from, false),
        ]
        for (jid, subscription, ask) in states {
            book.restore(owner: a, item: RosterItem(jid: jid, subscription: subscription, askSubscribe: ask))
        }
        #expect(book.subscriptions(of: a) == ["b@x", "t2@x", "t@x"])
        #expect(book.subscribers(of: a) == ["b@x", "f2@x", "f@x"])
        #expect(book.items(of: a).map(\.jid) == ["b@x", "f2@x", "f@x", "n@x", "t2@x", "t@x"])
        #expect(book.subscriptions(of: b).isEmpty)
        #expect(book.subscribers(of: b).isEmpty)
        #expect(book.items(of: b).isEmpty)
    }

    @Test func restoreReplacesAndRemoves() {
        var book = RosterBook()
        book.restore(owner: a, item: RosterItem(jid: b, subscription: .to))
        book.restore(owner: a, item: RosterItem(jid: b, name: "B", subscription: .both))
        #expect(book.item(of: a, contact: b) == RosterItem(jid: b, name: "B", subscription: .both))
        book.restore(owner: a, item: RosterItem(jid: b, subscription: .remove))
        #expect(book.item(of: a, contact: b) == nil)
        #expect(book.items(of: a).isEmpty)
        // Removing what is not there is harmless.
        book.restore(owner: "nobody@x", item: RosterItem(jid: b, subscription: .remove))
        #expect(book.items(of: "nobody@x").isEmpty)
    }

    @Test func removeOwnerForgetsRosterAndPendingOfThatOwnerOnly() {
        var book = RosterBook()
        book.restore(owner: a, item: RosterItem(jid: b, subscription: .both))
        book.restore(owner: a, item: RosterItem(jid: "c@x", subscription: .to))
        book.restorePending(owner: a, contact: "d@x", pending: true)
        book.restore(owner: b, item: RosterItem(jid: a, subscription: .both))
        book.restorePending(owner: b, contact: a, pending: true)

        book.removeOwner(a)
        #expect(book.items(of: a).isEmpty)
        #expect(book.pendingRequests(of: a).isEmpty)
        #expect(book.subscriptions(of: a).isEmpty && book.subscribers(of: a).isEmpty)
        #expect(book.item(of: b, contact: a)?.subscription == .both)
        #expect(book.pendingRequests(of: b) == [a])

        book.removeOwner("nobody@x")  // harmless
        #expect(book.items(of: b).count == 1)
    }

    @Test func pendingRequestsAreSorted() {
        var book = RosterBook()
        for contact in ["z@x", "a@x", "m@x"] { _ = book.inboundSubscribe(owner: a, from: contact) }
        #expect(book.pendingRequests(of: a) == ["a@x", "m@x", "z@x"])
        _ = book.outboundSubscribed(owner: a, contact: "m@x")
        _ = book.outboundUnsubscribed(owner: a, contact: "z@x")
        #expect(book.pendingRequests(of: a) == ["a@x"])
        #expect(book.pendingRequests(of: b).isEmpty)
    }

    @Test func restorePendingAddsAndRemoves() {
        var book = RosterBook()
        book.restorePending(owner: a, contact: b, pending: true)
        book.restorePending(owner: a, contact: "c@x", pending: true)
        #expect(book.pendingIn[a] == [b, "c@x"])
        book.restorePending(owner: a, contact: b, pending: false)
        #expect(book.pendingIn[a] == ["c@x"])
        book.restorePending(owner: "nobody@x", contact: b, pending: false)
        #expect(book.pendingIn["nobody@x"]?.isEmpty ?? true)
    }
}
