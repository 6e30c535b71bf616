import ETunnel
import Logging
import NIOCore
import StanzaRouting
import XMPPCore

extension C2SHandler {
    /// A stanza from a bound device (RFC 6120 §8, RFC 6121).
    func established(_ element: XMLElement, context: ChannelHandlerContext) {
        if element.namespace == StanzaRendering.smNS || element.namespace == StanzaRendering.csiNS {
            nonza(element, context: context)
            return
        }
        guard element.namespace == XMLNamespace.jabberClient, ["message", "presence", "iq"].contains(element.name) else {
            fail(context: context, StreamError(.unsupportedStanzaType, text: "<\(element.name)/> is not a stanza this service accepts"))
            return
        }
        guard let session = session else { return }
        let full = "\(session.bareJID)/\(session.resource)"
        // RFC 6120 §8.1.2.1: the server stamps (and checks) the sender's address.
        if let from = element.attribute("from"), from != full, from != session.bareJID {
            fail(context: context, StreamError(.invalidFrom, text: "this stream is \(full)"))
            return
        }
        let header: StanzaHeader
        do {
            header = try StanzaHeader(element)
        } catch {
            reply(to: element, StanzaError(.jidMalformed, text: "\(error)"), context: context)
            return
        }
        handle?.countHandled()
        var stamped = element
        stamped.setAttribute("from", to: full)
        let type = header.type
        let id = header.id

        switch element.name {
        case "presence":
            let to = header.to?.description ?? ""
            if let target = header.to, target.domain != domain {
                return  // no federation yet: presence to other domains is dropped
            }
            let priority = Int8(clamping: Int(element.child("priority", namespace: XMLNamespace.jabberClient)?.text.trimmingCharacters(in: .whitespaces) ?? "0") ?? 0)
            let routed = RoutedStanza(kind: .presence, type: type, to: to, from: full, id: id, sender: session.address, stanza: serialize(stamped, context: context))
            enqueue(.presence(PresenceUpdate(session: session, stanza: routed, priority: priority)))

        case "iq":
            guard let kind = type, ["get", "set", "result", "error"].contains(kind), id != nil else {
                reply(to: element, StanzaError(.badRequest, text: "an iq needs an id and a type of get, set, result or error"), context: context)
                return
            }
            if header.to == nil || header.to?.description == domain || header.to?.description == session.bareJID {
                serverIQ(element, kind: kind, context: context)
                return
            }
            route(stamped, header: header, kind: .iq, context: context)

        default:  // message
            var addressed = stamped
            var header = header
            if header.to == nil {
                addressed.setAttribute("to", to: session.bareJID)
                header.to = JID(session.bareJID)
            }
            route(addressed, header: header, kind: .message, context: context, carbonEligible: Self.carbonEligible(element, type: type))
        }
    }

    /// XEP-0280 §6: chat messages, and normal ones with a body, are copied; not those marked
    /// `<private/>` or `<no-copy/>` (XEP-0334), and never a carbon itself.
    static func carbonEligible(_ message: XMLElement, type: String?) -> Bool {
        let hasBody = message.child("body", namespace: XMLNamespace.jabberClient) != nil
        guard type == "chat" || ((type == nil || type == "normal") && hasBody) else { return false }
        for child in message.elements {
            switch (child.namespace, child.name) {
            case (StanzaRendering.carbonsNS, _), (StanzaRendering.hintsNS, "no-copy"): return false
            default: continue
            }
        }
        return true
    }

    /// Stream management and client state indication elements.
    private func nonza(_ element: XMLElement, context: ChannelHandlerContext) {
        guard let handle else { return }
        switch (element.namespace, element.name) {
        case (StanzaRendering.smNS, "enable"):
            guard !handle.streamManagementEnabled else {
                handle.writeNonza("<failed xmlns='\(StanzaRendering.smNS)'><unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>")
                return
            }
            let resumable = ["true", "1"].contains(element.attribute("resume") ?? "") && configuration.resumeWindow > .zero
            let id = handle.enableStreamManagement(resumable: resumable)
            let seconds = Int(configuration.resumeWindow.components.seconds)
            handle.writeNonza(resumable
                ? "<enabled xmlns='\(StanzaRendering.smNS)' id='\(id)' resume='true' max='\(seconds)'/>"
                : "<enabled xmlns='\(StanzaRendering.smNS)'/>")
        case (StanzaRendering.smNS, "r"):
            handle.writeNonza("<a xmlns='\(StanzaRendering.smNS)' h='\(handle.handled)'/>")
        case (StanzaRendering.smNS, "a"):
            if let h = element.attribute("h").flatMap({ UInt32($0) }) { handle.acknowledge(h) }
        case (StanzaRendering.csiNS, "inactive"):
            handle.setInactive(true)
        case (StanzaRendering.csiNS, "active"):
            handle.setInactive(false)
        default:
            fail(context: context, StreamError(.unsupportedStanzaType, text: "<\(element.name)/> is not supported here"))
        }
    }

    private func serialize(_ element: XMLElement, context: ChannelHandlerContext) -> ByteBuffer {
        var buffer = context.channel.allocator.buffer(capacity: 256)
        element.write(into: &buffer, parentNamespace: XMLNamespace.jabberClient)
        return buffer
    }

    private func route(_ element: XMLElement, header: StanzaHeader, kind: RoutedStanza.Kind, context: ChannelHandlerContext, carbonEligible: Bool = false) {
        guard let to = header.to, let session else { return }
        guard to.domain == domain else {
            reply(to: element, StanzaError(.remoteServerNotFound, text: "\(to.domain) is not reachable from this service"), context: context)
            return
        }
        guard to.local != nil else {
            if kind == .iq { reply(to: element, StanzaError(.serviceUnavailable), context: context) }
            return
        }
        let routed = RoutedStanza(kind: kind, type: header.type, to: to.description, from: "\(session.bareJID)/\(session.resource)",
                                  id: header.id, sender: session.address, stanza: serialize(element, context: context), carbonEligible: carbonEligible)
        enqueue(.route(routed))
    }

    /// IQs addressed to the server or to the device's own account (RFC 6120 §10.3.3).
    private func serverIQ(_ element: XMLElement, kind: String, context: ChannelHandlerContext) {
        guard kind == "get" || kind == "set", let payload = element.elements.first else { return }
        let id = element.attribute("id")
        switch (payload.namespace, payload.name, kind) {
        case (StanzaRendering.pingNS, "ping", "get"),
             (StanzaRendering.sessionNS, "session", "set"):
            write(StanzaRendering.iqResult(id: id, to: nil, from: nil), context: context)
        case (StanzaRendering.discoInfoNS, "query", "get"):
            let features = [StanzaRendering.discoInfoNS, StanzaRendering.discoItemsNS, StanzaRendering.pingNS, StanzaRendering.rosterNS,
                            "msgoffline", StanzaRendering.delayNS, StanzaRendering.carbonsNS]
            write(StanzaRendering.iqResult(id: id, to: nil, from: domain, payload: StanzaRendering.discoInfo(features: features)), context: context)
        case (StanzaRendering.discoItemsNS, "query", "get"):
            write(StanzaRendering.iqResult(id: id, to: nil, from: domain, payload: XMLElement(name: "query", namespace: StanzaRendering.discoItemsNS)), context: context)
        case (StanzaRendering.carbonsNS, "enable", "set"), (StanzaRendering.carbonsNS, "disable", "set"):
            enqueue(.carbons(id: id, enabled: payload.name == "enable"))
        case (StanzaRendering.rosterNS, "query", "get"):
            enqueue(.rosterGet(id: id))
        case (StanzaRendering.rosterNS, "query", "set"):
            let items = payload.children("item", namespace: StanzaRendering.rosterNS)
            guard items.count == 1, let item = items.first, let jidText = item.attribute("jid"), let jid = JID(jidText), jid.resource == nil else {
                reply(to: element, StanzaError(.badRequest, text: "a roster set carries exactly one item with a bare jid"), context: context)
                return
            }
            guard let session else { return }
            let subscription: RosterItem.Subscription = item.attribute("subscription") == "remove" ? .remove : .none
            let groups = item.children("group", namespace: StanzaRendering.rosterNS).map(\.text)
            guard Set(groups).count == groups.count, !groups.contains("") else {
                reply(to: element, StanzaError(.badRequest, text: "roster groups must be distinct and non-empty"), context: context)
                return
            }
            // RFC 6121 §2.3.3 lets a server bound these; routers store them in u16-length fields.
            guard groups.count <= 64, groups.allSatisfy({ $0.utf8.count <= 1023 }), (item.attribute("name")?.utf8.count ?? 0) <= 1023 else {
                reply(to: element, StanzaError(.notAcceptable, text: "at most 64 groups; a group or a name is at most 1023 bytes"), context: context)
                return
            }
            let rosterItem = RosterItem(jid: jid.description, name: item.attribute("name"), subscription: subscription, groups: groups)
            enqueue(.rosterSet(id: id, RosterSet(owner: session.bareJID, item: rosterItem)))
        default:
            reply(to: element, StanzaError(.serviceUnavailable), context: context)
        }
    }

}

/// What a bound stream asks of routers, one item at a time (see `C2SHandler.enqueue`): each
/// item is one callback-style eTunnel call, so a stream holds no task while it waits or idles.
struct C2SWorker: Sendable {
    let routers: RouterClient
    let path: MessagePath
    let handle: C2SStreamHandle
    let domain: String
    let session: SessionRef
    let logger: Logger

    /// Starts `item`; `done` runs once it is finished, from whatever thread finished it.
    func perform(_ item: C2SHandler.OrderedWork, done: @escaping @Sendable () -> Void) {
        let full = "\(session.bareJID)/\(session.resource)"
        switch item {
        case .route(let stanza):
            path.route(stanza) { result in
                if case .failure(let error) = result {
                    logger.warning("routing failed", metadata: ["to": "\(stanza.to)", "error": "\(error)"])
                    if let element = StanzaRendering.parseStanza(stanza.stanza), stanza.type != "error" {
                        handle.writeStanza(StanzaError(.remoteServerTimeout, text: "the router did not answer").reply(to: element, by: domain))
                    }
                    return done()
                }
                // Sent carbons (XEP-0280 §7), only when another session of the account wants them.
                guard stanza.carbonEligible, handle.carbonPeers else { return done() }
                routers.call(RoutingMethods.carbonsSent, owner: session.bareJID, CarbonsSent(session: session, stanza: stanza.stanza), timeout: .seconds(5)) { _ in
                    done()
                }
            }
        case .carbons(let id, let enabled):
            routers.call(RoutingMethods.carbonsSet, owner: session.bareJID, CarbonsSet(session: session, enabled: enabled), timeout: .seconds(5)) { result in
                switch result {
                case .success: handle.writeStanza(StanzaRendering.iqResult(id: id, to: full, from: nil))
                case .failure(let error): handle.writeStanza(Self.errorIQ(id: id, to: full, StanzaError(.internalServerError, text: "\(error)")))
                }
                done()
            }
        case .presence(let update):
            routers.call(RoutingMethods.presence, owner: session.bareJID, update, timeout: .seconds(10)) { result in
                if case .failure(let error) = result {
                    logger.warning("presence update failed", metadata: ["session": "\(full)", "error": "\(error)"])
                }
                done()
            }
        case .rosterGet(let id):
            routers.call(RoutingMethods.rosterGet, owner: session.bareJID, JIDMessage(jid: session.bareJID), timeout: .seconds(5)) { result in
                if case .success(let answer) = result, let items = try? RosterItems.decode(answer) {
                    handle.writeStanza(StanzaRendering.iqResult(id: id, to: full, from: nil, payload: StanzaRendering.rosterQuery(items.items)))
                } else {
                    handle.writeStanza(Self.errorIQ(id: id, to: full, StanzaError(.internalServerError, text: "the roster is unavailable")))
                }
                done()
            }
        case .rosterSet(let id, let request):
            routers.call(RoutingMethods.rosterSet, owner: request.owner, request, timeout: .seconds(10)) { result in
                switch result {
                case .success:
                    handle.writeStanza(StanzaRendering.iqResult(id: id, to: full, from: nil))
                case .failure(let error) where error.message == "item-not-found":
                    handle.writeStanza(Self.errorIQ(id: id, to: full, StanzaError(.itemNotFound)))
                case .failure(let error) where error.message.hasPrefix("roster-full"):
                    // RFC 6121 §2.3.3: a server may bound rosters; the set is refused as a whole.
                    handle.writeStanza(Self.errorIQ(id: id, to: full, StanzaError(.notAllowed, text: "the roster is full; remove an item first")))
                case .failure(let error):
                    handle.writeStanza(Self.errorIQ(id: id, to: full, StanzaError(.internalServerError, text: "\(error)")))
                }
                done()
            }
        }
    }

    static func errorIQ(id: String?, to: String, _ error: StanzaError) -> XMLElement {
        var attributes = [XMLAttribute(name: "type", value: "error"), XMLAttribute(name: "to", value: to)]
        if let id { attributes.append(XMLAttribute(name: "id", value: id)) }
        return XMLElement(name: "iq", namespace: XMLNamespace.jabberClient, attributes: attributes, children: [.element(error.element(namespace: XMLNamespace.jabberClient))])
    }
}
