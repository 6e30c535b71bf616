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

    /// Ends a session on its router. A close that is lost would leave the router a ghost that
    /// wins message targeting and sends bare-JID messages offline while the user is online
    /// elsewhere, so it is tried again (each time at the owner of the current view) until a
    /// router answers, for `CloseRetry.attempts` tries. Routers also reap a session whose
    /// stream its front-end says is gone (`CommunityRouter.reap`).
    func closeSession(_ ref: SessionRef, retry: CloseRetry = CloseRetry()) async -> Bool {
        await retry.run { try await owner(of: ref.bareJID).call(RoutingMethods.sessionClose, ref.encoded(), timeout: .seconds(5)) }
    }

    func route(_ stanza: RoutedStanza) async throws {
        _ = try await owner(of: JIDText.bare(stanza.to)).call(RoutingMethods.route, stanza.encoded(), timeout: .seconds(60))
    }
}

/// How a session close is retried: `attempts` tries, waiting `firstDelay` after the first
/// failure and twice as long after each next one, at most `maxDelay` (about 1.5 minutes in all
/// with the defaults: longer than a membership view change takes).
struct CloseRetry: Sendable {
    var attempts = 12
    var firstDelay: Duration = .milliseconds(100)
    var maxDelay: Duration = .seconds(10)

    /// Runs `operation` until it succeeds; false when every attempt failed.
    func run(_ operation: @Sendable () async throws -> some Sendable) async -> Bool {
        var delay = firstDelay
        for attempt in 1 ... max(attempts, 1) {
            do {
                _ = try await operation()
                return true
            } catch {
                guard attempt < attempts, !Task.isCancelled else { break }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, maxDelay)
            }
        }
        return false
    }
}

extension RouterClient {


    /// The per-stanza calls of a bound stream, without a task each: `completion` runs once, on
    /// an event loop of the eTunnel connection (or at once when no router can be had).
    func call(_ method: MethodID, owner bareJID: String, _ message: some ETunnelMessage<ETunnelError>, timeout: Duration, completion: @escaping ETunnelCompletion) {
        do {
            try owner(of: bareJID).call(method, message.encoded(), timeout: timeout, completion: completion)
        } catch {
            completion(.failure(error))
        }
    }
}
