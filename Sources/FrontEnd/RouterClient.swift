import ETunnel
import Membership
import MMGSShared
import NIOCore
import NodeRuntime
import StanzaRouting

/// The front-end's calls to routers: always to the router that owns the bare JID in question,
/// per the current view.
struct RouterClient: Sendable {
    let context: NodeContext

    func owner(of bareJID: String) throws(ETunnelError) -> ETunnelPeer {
        guard let member = context.viewCache.owner(of: bareJID, role: .router),
              let endpoint = member.info.etunnel.flatMap(ETunnelEndpoint.init) else {
            throw ETunnelError(.peerUnavailable, "no live router in the view")
        }
        return context.client.peer(endpoint)
    }

    func credentials(_ bareJID: String) async throws -> CredentialsAnswer {
        try await owner(of: bareJID).call(RoutingMethods.credentials, JIDMessage(jid: bareJID), as: CredentialsAnswer.self, timeout: .seconds(5))
    }

    func openSession(_ request: SessionOpen) async throws -> SessionRef {
        try await owner(of: request.bareJID).call(RoutingMethods.sessionOpen, request, as: SessionRef.self, timeout: .seconds(5))
    }

    func closeSession(_ ref: SessionRef) async {
        _ = try? await owner(of: ref.bareJID).call(RoutingMethods.sessionClose, ref.encoded(), timeout: .seconds(5))
    }

    func presence(_ update: PresenceUpdate) async throws {
        _ = try await owner(of: update.session.bareJID).call(RoutingMethods.presence, update.encoded(), timeout: .seconds(10))
    }

    func rosterGet(_ bareJID: String) async throws -> RosterItems {
        try await owner(of: bareJID).call(RoutingMethods.rosterGet, JIDMessage(jid: bareJID), as: RosterItems.self, timeout: .seconds(5))
    }

    func rosterSet(_ request: RosterSet) async throws {
        _ = try await owner(of: request.owner).call(RoutingMethods.rosterSet, request.encoded(), timeout: .seconds(10))
    }

    /// Hands a stanza to the router that owns its destination; returns once that router has
    /// delivered it, stored it offline, or bounced it.
    func route(_ stanza: RoutedStanza) async throws {
        let bare = stanza.to.split(separator: "/", maxSplits: 1).first.map(String.init) ?? stanza.to
        _ = try await owner(of: bare).call(RoutingMethods.route, stanza.encoded(), timeout: .seconds(60))
    }
}
