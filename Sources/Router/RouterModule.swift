import ETunnel
import Logging
import MMGSShared
import NIOCore
import NodeRuntime
import ServiceLifecycle
import StanzaRouting
import Synchronization

/// The router role: the switching core, owner of the users whose bare JIDs hash to it.
public struct RouterModule: RoleModule {
    private let holder = Holder()

    final class Holder: Sendable {
        let router = Mutex<CommunityRouter?>(nil)
    }

    public init() {}

    public var role: NodeRole { .router }

    public func register(into methods: inout ETunnelMethods, context: NodeContext) throws {
        PathTracer(context: context, role: .router, next: .transport).register(into: &methods)
        let router = try CommunityRouter(context: context, dataDirectory: context.configuration.dataDirectory)
        holder.router.withLock { $0 = router }
        router.register(into: &methods)
    }

    public func services(context: NodeContext) -> [any Service] {
        guard let router = holder.router.withLock({ $0 }) else { return [] }
        return [RouterService(router: router, context: context)]
    }
}

/// Drops the sessions of front-ends that leave the view; closes the journal at shutdown.
struct RouterService: Service {
    let router: CommunityRouter
    let context: NodeContext

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var known: Set<String> = []
            while !Task.isCancelled {
                if let view = context.viewCache.view {
                    let live = Set(view.live(.frontend).map(\.name))
                    for gone in known.subtracting(live) { await router.frontendLeft(gone) }
                    known = live
                }
                await router.snapshotIfIdle()
                // Every change of sessions revokes its leases at once; this resends what a
                // front-end did not acknowledge, and catches a change made on a path that forgot to.
                await router.revokeLeases()
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
        await router.close()
    }
}

extension CommunityRouter {
    nonisolated func register(into methods: inout ETunnelMethods) {
        methods.register(RoutingMethods.devicePut, async: { call in
            try await self.devicePut(DevicePut.decode(call.payload)).encoded()
        })
        methods.register(RoutingMethods.deviceGet, async: { call in
            let jid = try JIDMessage.decode(call.payload).jid
            guard let device = await self.device(jid) else { throw ETunnelError(.refused, "no device \(jid)") }
            return try device.encoded()
        })
        methods.register(RoutingMethods.deviceRemove, async: { call in
            try await self.deviceRemove(JIDMessage.decode(call.payload).jid)
            return ByteBuffer()
        })
        methods.register(RoutingMethods.deviceList, async: { call in
            // Paged (a page must fit in one frame): after JID (exclusive), at most 1000.
            let after = (try? JIDMessage.decode(call.payload).jid) ?? ""
            return try await DeviceList(devices: self.deviceList(after: after, limit: 1000)).encoded()
        })
        methods.register(RoutingMethods.deviceImport, async: { call in
            let list = try DeviceList.decode(call.payload)
            var answer = ByteBuffer()
            try answer.writeCount(try await self.deviceImport(list.devices), as: UInt32.self, field: "import.count")
            return answer
        })
        methods.register(RoutingMethods.credentials, async: { call in
            try await self.credentials(JIDMessage.decode(call.payload).jid).encoded()
        })
        methods.register(RoutingMethods.sessionOpen, async: { call in
            try await self.openSession(SessionOpen.decode(call.payload)).encoded()
        })
        methods.register(RoutingMethods.sessionClose, async: { call in
            await self.closeSession(try SessionRef.decode(call.payload))
            return ByteBuffer()
        })
        methods.register(RoutingMethods.presence, async: { call in
            await self.presence(try PresenceUpdate.decode(call.payload))
            return ByteBuffer()
        })
        methods.register(RoutingMethods.rosterGet, async: { call in
            try await self.rosterItems(JIDMessage.decode(call.payload).jid).encoded()
        })
        methods.register(RoutingMethods.rosterSet, async: { call in
            try await self.rosterSet(RosterSet.decode(call.payload))
            return ByteBuffer()
        })
        methods.register(RoutingMethods.route) { call in
            do throws(ETunnelError) {
                self.route(try RoutedStanza.decode(call.payload)) { lease in
                    if let lease { call.respond(lease) } else { call.respond(ByteBuffer()) }
                }
            } catch {
                call.fail(error)
            }
        }
        methods.register(RoutingMethods.carbonsSet, async: { call in
            await self.setCarbons(try CarbonsSet.decode(call.payload))
            return ByteBuffer()
        })
        methods.register(RoutingMethods.carbonsSent) { call in
            do throws(ETunnelError) {
                self.carbonsSent(try CarbonsSent.decode(call.payload))
                call.respond(ByteBuffer())
            } catch {
                call.fail(error)
            }
        }
        methods.register(RoutingMethods.probe, async: { call in
            await self.answerProbe(try PresenceProbe.decode(call.payload))
            return ByteBuffer()
        })
    }
}
