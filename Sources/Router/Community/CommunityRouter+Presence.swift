import ETunnel
import NIOCore
import StanzaRouting

extension CommunityRouter {
    /// Presence sent by one of this router's own devices (RFC 6121 §4).
    func presence(_ update: PresenceUpdate) async {
        let owner = update.session.bareJID
        let resource = update.session.resource
        let stanza = update.stanza
        switch stanza.type {
        case nil where stanza.to.isEmpty, "unavailable" where stanza.to.isEmpty:
            await broadcast(update, owner: owner, resource: resource)
        case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
            let contact = JIDText.bare(stanza.to)
            if stanza.type == "subscribe", rosterIsFull(owner, adding: contact) {
                // RFC 6121 §2.3.3 / §3.1.2: the roster may not grow; the request does not go out.
                await bounce(stanza, condition: "not-allowed")
                return
            }
            await outboundSubscription(type: stanza.type!, owner: owner, contact: contact)
        case "probe":
            break  // server-generated only (RFC 6121 §4.3)
        default:
            // Directed presence (or an error) goes as it is.
            guard !stanza.to.isEmpty else { return }
            await routeToOwner(stanza)
        }
    }

    private func broadcast(_ update: PresenceUpdate, owner: String, resource: String) async {
        let available = update.stanza.type == nil
        let full = "\(owner)/\(resource)"
        guard sessions.session(bare: owner, resource: resource)?.address == update.session.address else { return }
        let wasAvailable = sessions.session(bare: owner, resource: resource)?.available ?? false
        let initial = sessions.setPresence(bare: owner, resource: resource, available: available, priority: update.priority, stanza: update.stanza.stanza)
        await revokeLeases()
        // Unavailable from a session that never was available goes nowhere (§4.5.2).
        guard available || wasAvailable else { return }
        // RFC 6121 §4.2.2 / §4.4.2: to each subscriber's bare JID, and to each available resource
        // of the owner at its full JID, with `to` stamped (RFC 6120 §8.1.1).
        for contact in data.roster.subscribers(of: owner) {
            await routeToOwner(RoutedStanza(kind: .presence, type: update.stanza.type, to: contact, from: full, id: nil, sender: nil,
                                            stanza: StanzaAddressing.addressed(update.stanza.stanza, to: contact)))
        }
        // Including the resource that sent it (§4.2.2, as Prosody and ejabberd do): a client
        // learns that its presence took effect.
        for other in sessions.availableSessions(of: owner) {
            _ = await deliverStanza(StanzaAddressing.addressed(update.stanza.stanza, to: "\(owner)/\(other.resource)"), to: other.address, of: owner)
        }
        guard initial else { return }
        // Initial presence: learn the contacts' presence, see the other resources, get the mail.
        for contact in data.roster.subscriptions(of: owner) {
            await probe(contact: contact, subscriber: full, address: update.session.address)
        }
        for other in sessions.availableSessions(of: owner) where other.resource != resource {
            if let presence = other.presence { _ = await deliverStanza(StanzaAddressing.addressed(presence, to: full), to: update.session.address) }
        }
        for requester in data.roster.pendingRequests(of: owner) {
            _ = await deliverStanza(Self.presenceStanza(from: requester, to: full, type: "subscribe"), to: update.session.address)
        }
        if update.priority >= 0 { await flushOffline(owner: owner, to: update.session.address) }
    }

    func broadcastUnavailable(bare owner: String, resource: String) async {
        let full = "\(owner)/\(resource)"
        for contact in data.roster.subscribers(of: owner) {
            let stanza = Self.presenceStanza(from: full, to: contact, type: "unavailable")
            await routeToOwner(RoutedStanza(kind: .presence, type: "unavailable", to: contact, from: full, id: nil, sender: nil, stanza: stanza))
        }
        for other in sessions.availableSessions(of: owner) {
            _ = await deliverStanza(Self.presenceStanza(from: full, to: "\(owner)/\(other.resource)", type: "unavailable"), to: other.address, of: owner)
        }
    }

    private func probe(contact: String, subscriber: String, address: SessionAddress) async {
        let request = PresenceProbe(contact: contact, subscriber: subscriber, address: address)
        guard let owner = context.viewCache.owner(of: contact, role: .router) else { return }
        if owner.name == context.name {
            await answerProbe(request)
        } else if let peer = context.livePeer(named: owner.name) {
            _ = try? await peer.call(RoutingMethods.probe, request.encoded(), timeout: .seconds(3))
        }
    }

    /// Another router's user subscribes to our `contact`: deliver the contact's presences to it.
    func answerProbe(_ probe: PresenceProbe) async {
        let subscriber = JIDText.bare(probe.subscriber)
        guard let item = data.roster.item(of: probe.contact, contact: subscriber),
              item.subscription == .from || item.subscription == .both else { return }
        for session in sessions.availableSessions(of: probe.contact) {
            if let presence = session.presence { _ = await deliverStanza(StanzaAddressing.addressed(presence, to: probe.subscriber), to: probe.address) }
        }
    }

    // MARK: Subscriptions

    private func outboundSubscription(type: String, owner: String, contact: String) async {
        guard !contact.isEmpty, contact != owner else { return }
        let outcome: RosterBook.Outcome
        switch type {
        case "subscribe": outcome = data.roster.outboundSubscribe(owner: owner, contact: contact)
        case "subscribed": outcome = data.roster.outboundSubscribed(owner: owner, contact: contact)
        case "unsubscribe": outcome = data.roster.outboundUnsubscribe(owner: owner, contact: contact)
        default: outcome = data.roster.outboundUnsubscribed(owner: owner, contact: contact)
        }
        await commit(outcome, owner: owner, contact: contact)
        guard outcome.forward else { return }
        // Subscription stanzas carry bare JIDs (RFC 6121 §3.1.2).
        let stanza = Self.presenceStanza(from: owner, to: contact, type: type)
        await routeToOwner(RoutedStanza(kind: .presence, type: type, to: contact, from: owner, id: nil, sender: nil, stanza: stanza))
        if type == "subscribed" {
            for session in sessions.availableSessions(of: owner) {
                guard let presence = session.presence else { continue }
                await routeToOwner(RoutedStanza(kind: .presence, type: nil, to: contact, from: "\(owner)/\(session.resource)", id: nil, sender: nil,
                                                stanza: StanzaAddressing.addressed(presence, to: contact)))
            }
        } else if type == "unsubscribed" {
            for session in sessions.availableSessions(of: owner) {
                let full = "\(owner)/\(session.resource)"
                let stanza = Self.presenceStanza(from: full, to: contact, type: "unavailable")
                await routeToOwner(RoutedStanza(kind: .presence, type: "unavailable", to: contact, from: full, id: nil, sender: nil, stanza: stanza))
            }
        }
    }

    /// Presence for one of our users, from another user (possibly on another router).
    func inboundPresence(_ stanza: RoutedStanza, bare owner: String, resource: String?) async {
        let from = JIDText.bare(stanza.from)
        switch stanza.type {
        case "subscribe":
            if data.roster.item(of: owner, contact: from) == nil, data.roster.pendingCount(of: owner) >= limits.maxRosterItems,
               !data.roster.pendingRequests(of: owner).contains(from) {
                logger.notice("subscription request refused: the owner's pending requests are at their quota",
                              metadata: ["owner": "\(owner)", "from": "\(from)", "limit": "\(limits.maxRosterItems)"])
                await bounce(stanza, condition: "resource-constraint")
                return
            }
            let outcome = data.roster.inboundSubscribe(owner: owner, from: from)
            await commit(outcome, owner: owner, contact: from)
            if outcome.autoApprove {
                let answer = Self.presenceStanza(from: owner, to: from, type: "subscribed")
                await routeToOwner(RoutedStanza(kind: .presence, type: "subscribed", to: from, from: owner, id: nil, sender: nil, stanza: answer))
            } else if outcome.forward {
                // Delivered now to the available resources; the pending request itself is kept
                // (journaled) and offered again at each initial presence until it is answered
                // (RFC 6121 §3.1.3).
                for session in sessions.availableSessions(of: owner) { _ = await deliverStanza(stanza.stanza, to: session.address, of: owner) }
            }
        case "subscribed", "unsubscribe", "unsubscribed":
            let outcome: RosterBook.Outcome
            switch stanza.type {
            case "subscribed": outcome = data.roster.inboundSubscribed(owner: owner, from: from)
            case "unsubscribe": outcome = data.roster.inboundUnsubscribe(owner: owner, from: from)
            default: outcome = data.roster.inboundUnsubscribed(owner: owner, from: from)
            }
            await commit(outcome, owner: owner, contact: from)
            if outcome.forward {
                for session in sessions.availableSessions(of: owner) { _ = await deliverStanza(stanza.stanza, to: session.address, of: owner) }
            }
        case "probe":
            break
        default:
            if let resource {
                if let session = sessions.session(bare: owner, resource: resource) { _ = await deliverStanza(stanza.stanza, to: session.address, of: owner) }
            } else {
                for session in sessions.availableSessions(of: owner) { _ = await deliverStanza(stanza.stanza, to: session.address, of: owner) }
            }
        }
    }

    // MARK: Rosters

    func rosterItems(_ owner: String) -> RosterItems {
        RosterItems(items: data.roster.items(of: owner))
    }

    func rosterSet(_ request: RosterSet) async throws {
        let owner = request.owner
        let contact = request.item.jid
        guard contact != owner else { throw ETunnelError(.refused, "a roster cannot hold its owner") }
        if request.item.subscription == .remove {
            let (outcome, old) = data.roster.remove(owner: owner, contact: contact)
            guard let old else { throw ETunnelError(.refused, "item-not-found") }
            await commit(outcome, owner: owner, contact: contact)
            // RFC 6121 §2.5.2: cancel both directions.
            if old.subscription == .to || old.subscription == .both || old.askSubscribe {
                await routeToOwner(RoutedStanza(kind: .presence, type: "unsubscribe", to: contact, from: owner, id: nil, sender: nil, stanza: Self.presenceStanza(from: owner, to: contact, type: "unsubscribe")))
            }
            if old.subscription == .from || old.subscription == .both {
                await routeToOwner(RoutedStanza(kind: .presence, type: "unsubscribed", to: contact, from: owner, id: nil, sender: nil, stanza: Self.presenceStanza(from: owner, to: contact, type: "unsubscribed")))
            }
        } else {
            guard !rosterIsFull(owner, adding: contact) else {
                throw ETunnelError(.refused, "roster-full: a roster holds at most \(limits.maxRosterItems) items")
            }
            await commit(data.roster.set(owner: owner, item: request.item), owner: owner, contact: contact)
        }
    }

    /// Whether adding `contact` would take the owner's roster past its quota.
    func rosterIsFull(_ owner: String, adding contact: String) -> Bool {
        data.roster.item(of: owner, contact: contact) == nil && data.roster.count(of: owner) >= limits.maxRosterItems
    }

    /// Persists roster changes and pushes them to every session of the owner.
    func commit(_ outcome: RosterBook.Outcome, owner: String, contact: String) async {
        do {
            for item in outcome.changed {
                try await persist(.rosterPut, RosterSet(owner: owner, item: item))
            }
            if outcome.pendingChanged {
                let pending = data.roster.pendingIn[owner]?.contains(contact) ?? false
                try await persist(pending ? .pendingAdd : .pendingRemove, JIDPair(owner: owner, contact: contact))
            }
        } catch {
            logger.error("could not persist a roster change", metadata: ["owner": "\(owner)", "error": "\(error)"])
        }
        for item in outcome.changed {
            guard let payload = try? item.encoded() else { continue }  // bounded by the front-end's roster checks
            for session in sessions.sessions(of: owner) {
                _ = await deliver(session.address, Delivery(stream: session.address.stream, action: .rosterPush, payload: payload))
            }
        }
    }
}
