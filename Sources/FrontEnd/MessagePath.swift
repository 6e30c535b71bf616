import ETunnel
import Metrics
import NIOCore
import StanzaRouting
import Synchronization

/// How a stanza from a device leaves this front-end. A message whose destination this
/// front-end holds a lease on (`LeaseCache`) goes straight to the receiver's streams: written
/// here when the receiver is on this front-end, or one `deliver` call to its front-end. Anything
/// else goes to the router that owns the destination, which may answer with a lease for next
/// time. A delivery on a lease that no stream takes goes to the router after all, so a stale
/// lease costs a detour, never a message.
final class MessagePath: Sendable {
    let routers: RouterClient
    let registry: C2SRegistry
    /// This front-end's node name, as session addresses spell it.
    let name: String
    /// Off (`delivery_leases: false`): every message goes through its router.
    let useLeases: Bool
    private let leases: Mutex<LeaseCache>
    /// Messages by the way they left: written here on a lease, sent to another front-end on a
    /// lease, sent to a router (no lease, or a lease no stream honoured).
    private let viaLocal = Counter(label: "mmgs_messages_out_total", dimensions: [("path", "lease-local")])
    private let viaFrontend = Counter(label: "mmgs_messages_out_total", dimensions: [("path", "lease-frontend")])
    private let viaRouterCount = Counter(label: "mmgs_messages_out_total", dimensions: [("path", "router")])
    private let staleLeases = Counter(label: "mmgs_lease_misses_total")

    init(routers: RouterClient, registry: C2SRegistry, name: String, useLeases: Bool = true, leaseLifetime: TimeAmount = .seconds(60)) {
        self.routers = routers
        self.registry = registry
        self.name = name
        self.useLeases = useLeases
        self.leases = Mutex(LeaseCache(lifetime: leaseLifetime))
    }

    /// Sends `stanza` on; `completion` runs once it is delivered, stored or bounced (or routing
    /// failed), on whatever thread finished it.
    func route(_ stanza: RoutedStanza, completion: @escaping @Sendable (Result<Void, ETunnelError>) -> Void) {
        let bare = JIDText.bare(stanza.to)
        let router: (name: String, peer: ETunnelPeer)
        do {
            router = try routers.ownerRouter(of: bare)
        } catch {
            return completion(.failure(error))
        }
        let viaRouter: @Sendable () -> Void = { [self] in
            if stanza.kind == .message { self.viaRouterCount.increment() }
            // Encoded only here: a message on a lease never needs the routed form.
            let payload: ByteBuffer
            do throws(ETunnelError) {
                payload = try stanza.encoded()
            } catch {
                return completion(.failure(error))
            }
            router.peer.call(RoutingMethods.route, payload, timeout: .seconds(60)) { result in
                switch result {
                case .success(let answer):
                    if self.useLeases, stanza.kind == .message, answer.readableBytes > 0, let lease = try? DeliveryLease.decode(answer) {
                        self.leases.withLock { $0.grant(lease, to: stanza.to, bare: bare, router: router.name, now: .now()) }
                    }
                    completion(.success(()))
                case .failure(let error):
                    completion(.failure(error))
                }
            }
        }
        guard useLeases, stanza.kind == .message,
              let targets = leases.withLock({ $0.targets(for: stanza.to, bare: bare, router: router.name, now: .now()) }) else {
            return viaRouter()
        }
        deliver(stanza.stanza, to: targets) { [self] delivered in
            if delivered { return completion(.success(())) }
            self.staleLeases.increment()
            self.leases.withLock { $0.drop(bare) }
            viaRouter()
        }
    }

    /// `lease.revoke` from a router.
    func revoke(_ revocation: LeaseRevocation) {
        leases.withLock { $0.revoke(revocation.bareJIDs, router: revocation.router, version: revocation.version, now: .now()) }
    }

    /// Writes `bytes` on every target stream; `completion(true)` when at least one took it.
    private func deliver(_ bytes: ByteBuffer, to targets: [SessionAddress], completion: @escaping @Sendable (Bool) -> Void) {
        if targets.count == 1 { return deliver(bytes, to: targets[0], completion: completion) }
        let fanout = Fanout(count: targets.count)
        for target in targets {
            deliver(bytes, to: target) { delivered in
                if let outcome = fanout.finished(delivered: delivered) { completion(outcome.any) }
            }
        }
    }

    private func deliver(_ bytes: ByteBuffer, to target: SessionAddress, completion: @escaping @Sendable (Bool) -> Void) {
        if target.frontend == name {
            viaLocal.increment()
            return completion(registry.handle(target.stream)?.writeStanza(bytes) ?? false)
        }
        guard let peer = routers.context.livePeer(named: target.frontend) else { return completion(false) }
        viaFrontend.increment()
        peer.deliver(Delivery(stream: target.stream, action: .stanza, delayMillis: 0, payload: bytes), timeout: .seconds(30)) { result in
            completion((try? result.get()) ?? false)
        }
    }
}
