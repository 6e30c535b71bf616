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

    /// The owning router of `bareJID`: its node name and its eTunnel peer.
    func ownerRouter(of bareJID: String) throws(ETunnelError) -> (name: String, peer: ETunnelPeer) {
        guard let member = context.viewCache.owner(of: bareJID, role: .router),
              let endpoint = member.info.etunnel.flatMap(ETunnelEndpoint.init) else {
            throw ETunnelError(.peerUnavailable, "no live router in the view")
        }
        return (member.name, context.client.peer(endpoint))
    }

    func owner(of bareJID: String) throws(ETunnelError) -> ETunnelPeer {
        try ownerRouter(of: bareJID).peer
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

    /// Hands a stanza to the router that owns its destination; returns once that router has
    /// delivered it, stored it offline, or bounced it.
    func route(_ stanza: RoutedStanza) async throws {
        _ = try await owner(of: JIDText.bare(stanza.to)).call(RoutingMethods.route, stanza.encoded(), timeout: .seconds(60))
    }

    /// The per-stanza calls of a bound stream, without a task each: `completion` runs once, on
    /// an event loop of the eTunnel connection (or at once when no router can be had).
    func call(_ method: MethodID, owner bareJID: String, _ payload: ByteBuffer, timeout: Duration, completion: @escaping ETunnelCompletion) {
        do {
            try owner(of: bareJID).call(method, payload, timeout: timeout, completion: completion)
        } catch {
            completion(.failure(error))
        }
    }
}
