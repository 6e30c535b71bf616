import ETunnel
import MMGSShared
import NIOCore
import StanzaRouting

extension CommunityRouter {
    /// A stanza for a bare JID this router owns (RFC 6121 §8.5, local domain).
    func route(_ stanza: RoutedStanza) async {
        let bare = JIDText.bare(stanza.to)
        let resource = JIDText.resource(stanza.to)
        guard data.devices[bare] != nil else {
            // §8.5.1: no such user. Presence is dropped silently, the rest answered.
            if stanza.kind != .presence { await bounce(stanza, condition: "service-unavailable") }
            return
        }
        switch stanza.kind {
        case .message: await routeMessage(stanza, bare: bare, resource: resource)
        case .iq: await routeIQ(stanza, bare: bare, resource: resource)
        case .presence: await inboundPresence(stanza, bare: bare, resource: resource)
        }
    }

    /// `route`, entered from the eTunnel event loop; `done` runs once the stanza is handled. The
    /// common case stays off the actor: a message to a device online here goes straight to its
    /// streams, and the front-end that sent it gets a lease on where they are (`DeliveryLease`)
    /// when every one of them took it. Anything else, and a message no stream took, goes to the
    /// actor's `route` (offline storage, bounces and the rest of RFC 6121 §8.5 stay in one place).
    nonisolated func route(_ stanza: RoutedStanza, done: @escaping @Sendable (DeliveryLease?) -> Void) {
        let onActor: @Sendable () -> Void = {
            Task {
                await self.route(stanza)
                done(nil)
            }
        }
        guard stanza.kind == .message else { return onActor() }
        let bare = JIDText.bare(stanza.to)
        let (targets, version, copies) = sharedSessions.lease(to: stanza.to, holder: stanza.sender?.frontend)
        guard !targets.isEmpty else { return onActor() }
        let fanout = Fanout(count: targets.count)
        for target in targets {
            deliver(target.address, Delivery(stream: target.address.stream, action: .stanza, delayMillis: 0, payload: stanza.stanza), owner: bare) { delivered in
                guard let outcome = fanout.finished(delivered: delivered) else { return }
                if !outcome.any { return onActor() }
                if stanza.carbonEligible, !copies.isEmpty { self.sendCarbons(stanza.stanza, of: bare, to: copies, direction: .received) }
                done(outcome.all && copies.isEmpty ? DeliveryLease(version: version, targets: targets.map(\.address)) : nil)
            }
        }
    }

    /// Message Carbons (XEP-0280 §6–7): a wrapped copy to each of `sessions`, which are the
    /// account's carbons-enabled sessions that did not take part (the recipients themselves for
    /// received copies, the sending session for sent copies). Best effort, like the rest of
    /// carbons: a copy that is not delivered is not kept offline.
    nonisolated func sendCarbons(_ message: ByteBuffer, of account: String, to sessions: [SessionEntry], direction: StanzaAddressing.CarbonDirection) {
        for session in sessions {
            let copy = StanzaAddressing.carbon(message, direction: direction, account: account, to: "\(account)/\(session.resource)")
            deliver(session.address, Delivery(stream: session.address.stream, action: .stanza, payload: copy)) { _ in }
        }
    }

    /// Tells lease holders which bare JIDs' sessions changed; returns once they have answered
    /// (or could not be reached), so a device's next message after a session change is routed
    /// by the new table. Called after every change of sessions, and every 250 ms, which resends
    /// what a live front-end did not acknowledge: a revocation is never given up while its
    /// front-end is in the view (one that left holds nothing).
    func revokeLeases() async {
        let (byFrontend, version) = sharedSessions.takeRevocations()
        guard !byFrontend.isEmpty else { return }
        let router = context.name
        let unacknowledged = await withTaskGroup(of: (String, [String])?.self) { group in
            for (frontend, bares) in byFrontend {
                guard let peer = context.livePeer(named: frontend) else { continue }
                let all = Array(bares)
                for start in stride(from: 0, to: all.count, by: LeaseRevocation.batch) {
                    let batch = LeaseRevocation(router: router, version: version, bareJIDs: Array(all[start ..< min(start + LeaseRevocation.batch, all.count)]))
                    group.addTask {
                        do {
                            _ = try await peer.call(RoutingMethods.leaseRevoke, batch.encoded(), timeout: .seconds(2))
                            return nil
                        } catch {
                            return (frontend, batch.bareJIDs)
                        }
                    }
                }
            }
            var failed: [(String, [String])] = []
            for await result in group { if let result { failed.append(result) } }
            return failed
        }
        for (frontend, bares) in unacknowledged {
            logger.warning("lease revocation not acknowledged; resending", metadata: ["frontend": "\(frontend)", "jids": "\(bares.count)"])
            sharedSessions.requeueRevocations(bares, for: frontend)
        }
    }

    private func routeMessage(_ stanza: RoutedStanza, bare: String, resource: String?) async {
        let type = stanza.type ?? "normal"
        if let resource, let session = sessions.session(bare: bare, resource: resource) {
            if await deliverStanza(stanza.stanza, to: session.address, of: bare) {
                if stanza.carbonEligible { sendCarbons(stanza.stanza, of: bare, to: sessions.carbonCopies(of: bare, excluding: [session.address]), direction: .received) }
                return
            }
        }
        if type == "error" { return }
        if resource != nil && type == "groupchat" {
            await bounce(stanza, condition: "service-unavailable")
            return
        }
        var delivered: [SessionAddress] = []
        for target in sessions.messageTargets(of: bare) where await deliverStanza(stanza.stanza, to: target.address, of: bare) {
            delivered.append(target.address)
        }
        guard delivered.isEmpty else {
            if stanza.carbonEligible { sendCarbons(stanza.stanza, of: bare, to: sessions.carbonCopies(of: bare, excluding: delivered), direction: .received) }
            return
        }
        // §8.5.2.2: chat and normal messages are kept for later; headline and groupchat are not.
        guard type == "chat" || type == "normal" else { return }
        await storeOffline(stanza, owner: bare)
    }

    private func routeIQ(_ stanza: RoutedStanza, bare: String, resource: String?) async {
        if let resource, let session = sessions.session(bare: bare, resource: resource),
           await deliverStanza(stanza.stanza, to: session.address, of: bare) {
            return
        }
        // An IQ to a bare JID is answered by the server on the user's behalf; nothing of the
        // user's own is served yet, and a gone resource cannot answer.
        await bounce(stanza, condition: "service-unavailable")
    }

    /// Keeps a message for an account with no available resource, up to its quota: beyond it,
    /// or when the journal refuses it, the sender gets an error (XEP-0160 §3: a full store
    /// answers `service-unavailable`) instead of the message vanishing.
    func storeOffline(_ stanza: RoutedStanza, owner: String) async {
        guard (data.offline[owner]?.count ?? 0) < limits.maxOfflinePerAccount else {
            logger.notice("offline store full; message refused", metadata: ["owner": "\(owner)", "limit": "\(limits.maxOfflinePerAccount)"])
            await bounce(stanza, condition: "service-unavailable")
            return
        }
        let item = OfflineItem(millis: Self.nowMillis, stanza: stanza.stanza)
        do {
            try await persist(.offlineAppend, OfflineRecord(owner: owner, millis: item.millis, stanza: stanza.stanza))
            data.offline[owner, default: []].append(item)
        } catch {
            logger.error("could not store an offline message", metadata: ["owner": "\(owner)", "error": "\(error)"])
            await bounce(stanza, condition: "internal-server-error")
        }
    }

    /// Delivers the offline queue to a session that just became available; what cannot be
    /// delivered stays queued.
    func flushOffline(owner: String, to address: SessionAddress) async {
        guard let items = data.offline[owner], !items.isEmpty else { return }
        var delivered = 0
        for item in items {
            guard await deliverStanza(item.stanza, to: address, of: owner, delayMillis: item.millis) else { break }
            delivered += 1
        }
        guard delivered > 0 else { return }
        do {
            try await persist(.offlineClear, JIDMessage(jid: owner))
            let rest = Array(items.dropFirst(delivered))
            for item in rest {
                try await persist(.offlineAppend, OfflineRecord(owner: owner, millis: item.millis, stanza: item.stanza))
            }
            // Items queued meanwhile (during the awaits above) stay too.
            let arrived = (data.offline[owner] ?? []).dropFirst(items.count)
            data.offline[owner] = rest + arrived
            if data.offline[owner]?.isEmpty == true { data.offline[owner] = nil }
        } catch {
            logger.error("could not record offline delivery", metadata: ["owner": "\(owner)", "error": "\(error)"])
        }
    }

    // MARK: Stanzas the router writes itself

    static func escape(_ value: String) -> String { value.xmlEscaped }

    static func presenceStanza(from: String, to: String?, type: String?) -> ByteBuffer {
        var xml = "<presence from='\(escape(from))'"
        if let to { xml += " to='\(escape(to))'" }
        if let type { xml += " type='\(escape(type))'" }
        xml += "/>"
        return ByteBuffer(string: xml)
    }
}

// MARK: Message Carbons (XEP-0280)

extension CommunityRouter {
    /// A session enables or disables carbons. The account's sessions learn whether some other
    /// session of theirs wants carbons (`carbonPeers`) before this answers, so the messages a
    /// session sends after the enabling IQ's result are copied.
    func setCarbons(_ request: CarbonsSet) async {
        let ref = request.session
        guard sessions.setCarbons(bare: ref.bareJID, resource: ref.resource, address: ref.address, enabled: request.enabled) else { return }
        await revokeLeases()
        await pushCarbonPeers(ref.bareJID)
    }

    /// Tells every session of `bare` whether another session of the account has carbons on.
    func pushCarbonPeers(_ bare: String) async {
        let all = sessions.sessions(of: bare)
        let enabled = all.filter(\.carbons).count
        for session in all {
            let others = enabled - (session.carbons ? 1 : 0)
            var flag = ByteBuffer()
            flag.writeInteger(UInt8(others > 0 ? 1 : 0))
            _ = await deliver(session.address, Delivery(stream: session.address.stream, action: .carbonPeers, payload: flag))
        }
    }

    /// A message one of our sessions sent: sent carbons to the account's other
    /// carbons-enabled sessions.
    nonisolated func carbonsSent(_ sent: CarbonsSent) {
        let ref = sent.session
        let copies = sharedSessions.value.carbonCopies(of: ref.bareJID, excluding: [ref.address])
        guard !copies.isEmpty else { return }
        sendCarbons(sent.stanza, of: ref.bareJID, to: copies, direction: .sent)
    }
}
