import Logging
import NIOCore
import NIOPosix
import StanzaRouting
import XMPPCore

/// Ends device sessions: at once when a connection closes without stream management, or when
/// a detached resumable stream's window passes. Messages the device never acknowledged go back
/// to its router, addressed to its bare JID, so that another resource or the offline queue gets
/// them instead of losing them.
struct C2SReaper: Sendable {
    let routers: RouterClient
    let registry: C2SRegistry
    let domain: String
    let logger: Logger

    func expire(_ handle: C2SStreamHandle, generation: Int, after window: Duration) {
        MultiThreadedEventLoopGroup.singleton.next().scheduleTask(in: .nanoseconds(window.nanoseconds)) {
            guard handle.expire(generation: generation) else { return }
            Task { await self.finish(handle) }
        }
    }

    func finish(_ handle: C2SStreamHandle) async {
        let unacked = handle.finish()
        registry.remove(handle.stream)
        guard let session = handle.session else { return }
        if await !routers.closeSession(session) {
            logger.warning("session close not acknowledged after every retry; its router reaps it at the next delivery",
                           metadata: ["session": "\(session.bareJID)/\(session.resource)"])
        }
        for bytes in unacked {
            guard let element = StanzaRendering.parseStanza(bytes), element.name == "message" else { continue }
            let type = element.attribute("type")
            guard type == nil || type == "chat" || type == "normal" else { continue }
            let stanza = RoutedStanza(kind: .message, type: type, to: session.bareJID, from: element.attribute("from") ?? domain,
                                      id: element.attribute("id"), sender: nil, stanza: bytes)
            do {
                try await routers.route(stanza)
            } catch {
                logger.warning("an unacknowledged message could not be returned to its router", metadata: ["to": "\(session.bareJID)", "error": "\(error)"])
            }
        }
        if !unacked.isEmpty {
            logger.debug("session ended with unacknowledged stanzas", metadata: ["session": "\(session.bareJID)/\(session.resource)", "count": "\(unacked.count)"])
        }
    }
}
