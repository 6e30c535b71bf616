import ETunnel
import Foundation
import Logging
import MMGSShared
import Membership
import NIOCore
import NodeRuntime
import StanzaRouting

/// The private community's switching core on one router: devices, sessions, rosters and
/// offline queues of the bare JIDs this router owns. It routes on headers and raw bytes only;
/// the few stanzas it creates itself (unavailable presence, subscription answers) are built
/// from strings, never parsed.
public actor CommunityRouter {
    let context: NodeContext
    let store: RouterStore
    var data: RouterData
    /// Sessions live behind a lock so the message fast path can read them off the actor.
    let sharedSessions = SharedSessionTable()
    var sessions: SessionTable {
        get { sharedSessions.value }
        _modify { yield &sharedSessions.value }
    }
    let logger: Logger
    /// Quotas per account (the cluster file's `"limits"`).
    let limits: ServiceLimits
    /// Journal appends not yet applied to `data`: a snapshot is only consistent when none is.
    var appendsInFlight = 0
    var recordsSinceSnapshot = 0
    /// Records between snapshots (compaction keeps start-up replay short).
    let snapshotEvery = 50_000

    public init(context: NodeContext, dataDirectory: String) throws {
        self.context = context
        self.logger = context.logger
        self.limits = context.configuration.limits
        let (store, data) = try RouterStore.open(directory: dataDirectory, logger: context.logger)
        self.store = store
        self.data = data
    }

    public func close() async {
        await snapshotIfIdle(force: true)
        await store.journal.close()
    }

    /// Appends a change to the journal; returns once it is durable.
    func persist(_ kind: RouterRecord, _ message: some ETunnelMessage) async throws {
        appendsInFlight += 1
        defer { appendsInFlight -= 1 }
        try await store.append(kind, message)
        recordsSinceSnapshot += 1
    }

    /// Called after state changes: writes a snapshot once enough records accumulated (and no
    /// append is in flight, so that `data` is exactly the records up to the journal's last).
    func snapshotIfIdle(force: Bool = false) async {
        guard appendsInFlight == 0, force ? recordsSinceSnapshot > 0 : recordsSinceSnapshot >= snapshotEvery else { return }
        let sequence = store.journal.statistics.lastSequence
        guard sequence > 0 else { return }
        let state: [UInt8]
        do {
            state = try data.snapshot()
        } catch {
            logger.error("journal snapshot skipped: the state cannot be encoded", metadata: ["error": "\(error)"])
            return
        }
        recordsSinceSnapshot = 0
        do {
            try await store.journal.snapshot(state: state, upTo: sequence)
            logger.info("journal snapshot", metadata: ["sequence": "\(sequence)", "bytes": "\(state.count)"])
        } catch {
            logger.error("journal snapshot failed", metadata: ["error": "\(error)"])
        }
    }

    static var nowMillis: UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }

    // MARK: Devices

    func devicePut(_ request: DevicePut) async throws -> DeviceRecord {
        var device = request.device
        let existing = data.devices[device.bareJID]
        switch request.mode {
        case .create:
            guard existing == nil else { throw ETunnelError(.refused, "device \(device.bareJID) already exists") }
        case .update:
            guard let existing else { throw ETunnelError(.refused, "no device \(device.bareJID)") }
            device.createdMillis = existing.createdMillis
            if device.credentials.isEmpty { device.credentials = existing.credentials }
        }
        try await persist(.devicePut, device)
        data.devices[device.bareJID] = device
        await snapshotIfIdle()
        if !device.enabled {
            await endSessions(of: device.bareJID, condition: "policy-violation", text: "this device has been disabled")
        }
        return device
    }

    /// Creates or replaces many devices; their journal records share fsyncs (group commit).
    func deviceImport(_ devices: [DeviceRecord]) async throws -> Int {
        let store = self.store
        appendsInFlight += 1
        defer { appendsInFlight -= 1 }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for device in devices {
                group.addTask { try await store.append(.devicePut, device) }
            }
            try await group.waitForAll()
        }
        for device in devices { data.devices[device.bareJID] = device }
        recordsSinceSnapshot += devices.count
        return devices.count
    }

    func deviceRemove(_ jid: String) async throws {
        guard data.devices[jid] != nil else { throw ETunnelError(.refused, "no device \(jid)") }
        try await persist(.deviceRemove, JIDMessage(jid: jid))
        data.devices[jid] = nil
        data.offline[jid] = nil
        data.roster.removeOwner(jid)
        await endSessions(of: jid, condition: "not-authorized", text: "this device has been removed")
    }

    /// Closes every session of a device from the router's side: contacts see it go unavailable,
    /// and its streams end with a stream error.
    private func endSessions(of bare: String, condition: String, text: String) async {
        for session in sessions.sessions(of: bare) {
            guard let entry = sessions.close(bare: bare, resource: session.resource, address: session.address) else { continue }
            await revokeLeases()
            if entry.available { await broadcastUnavailable(bare: bare, resource: entry.resource) }
            await kill(entry.address, condition: condition, text: text)
        }
    }

    func device(_ jid: String) -> DeviceRecord? { data.devices[jid] }

    /// One page of devices in JID order, after `after` (exclusive), at most `limit`.
    func deviceList(after: String, limit: Int) -> [DeviceRecord] {
        let page = data.devices.values.filter { $0.bareJID > after }.sorted { $0.bareJID < $1.bareJID }.prefix(limit)
        return Array(page)
    }

    func credentials(_ jid: String) -> CredentialsAnswer {
        guard let device = data.devices[jid] else { return CredentialsAnswer(status: .unknown, credentials: []) }
        return CredentialsAnswer(status: device.enabled ? .enabled : .disabled, credentials: device.credentials)
    }

    // MARK: Sessions

    func openSession(_ request: SessionOpen) async throws -> SessionRef {
        guard let device = data.devices[request.bareJID], device.enabled else {
            throw ETunnelError(.refused, "\(request.bareJID) may not log in")
        }
        guard let opened = sessions.open(bare: request.bareJID, resource: request.resource, address: request.address,
                                         maxResources: limits.maxResourcesPerAccount) else {
            throw ETunnelError(.refused, "resource-constraint: \(request.bareJID) has \(limits.maxResourcesPerAccount) resources bound, the most an account may")
        }
        await revokeLeases()
        if let replaced = opened.replaced {
            await kill(replaced.address, condition: "conflict", text: "replaced by a new session of the same resource")
        }
        if sessions.anyCarbons(request.bareJID) { await pushCarbonPeers(request.bareJID) }
        return SessionRef(bareJID: request.bareJID, resource: opened.resource, address: request.address)
    }

    func closeSession(_ ref: SessionRef) async {
        guard let entry = sessions.close(bare: ref.bareJID, resource: ref.resource, address: ref.address) else { return }
        await revokeLeases()
        if entry.carbons { await pushCarbonPeers(ref.bareJID) }
        if entry.available { await broadcastUnavailable(bare: ref.bareJID, resource: ref.resource) }
    }

    /// A session whose front-end says its stream is gone ends here as a close would end it.
    func reap(_ address: SessionAddress, of bare: String) async {
        guard let entry = sessions.sessions(of: bare).first(where: { $0.address == address }) else { return }
        logger.info("reaping a session whose stream is gone", metadata: ["session": "\(bare)/\(entry.resource)", "frontend": "\(address.frontend)"])
        await closeSession(SessionRef(bareJID: bare, resource: entry.resource, address: address))
    }

    /// Every session of a front-end that left the view is gone.
    func frontendLeft(_ name: String) async {
        let removed = sessions.removeAll(frontend: name)
        await revokeLeases()
        for (bare, entry) in removed where entry.available {
            await broadcastUnavailable(bare: bare, resource: entry.resource)
        }
    }

    // MARK: I/O helpers

    /// Puts something on one stream; false when the stream or its front-end is gone. The
    /// deadline is generous: a slow answer from a loaded front-end must not make the router
    /// believe an online device is gone and park its message offline.
    func deliver(_ address: SessionAddress, _ delivery: Delivery, owner: String? = nil) async -> Bool {
        await withCheckedContinuation { continuation in
            deliver(address, delivery, owner: owner) { continuation.resume(returning: $0) }
        }
    }

    /// `deliver` without the actor, for the fast path: `completion` gets whether the stream
    /// took it, on an eTunnel event loop.
    /// `owner`: the bare JID whose session (of this router's) `address` is, so that a stream its
    /// front-end says is gone can be reaped.
    nonisolated func deliver(_ address: SessionAddress, _ delivery: Delivery, owner: String? = nil, completion: @escaping @Sendable (Bool) -> Void) {
        guard let peer = context.livePeer(named: address.frontend) else { return completion(false) }
        let logger = self.logger
        peer.deliver(delivery, timeout: .seconds(30)) { result in
            switch result {
            case .success(let delivered):
                // "No such stream" is final: the front-end ended it, and its close may have been
                // lost (a ghost would win targeting and park messages offline meanwhile).
                if !delivered, let owner { Task { await self.reap(address, of: owner) } }
                completion(delivered)
            case .failure(let error):
                logger.warning("delivery failed", metadata: ["frontend": "\(address.frontend)", "stream": "\(address.stream)", "error": "\(error)"])
                completion(false)
            }
        }
    }

    func deliverStanza(_ bytes: ByteBuffer, to address: SessionAddress, of owner: String? = nil, delayMillis: UInt64 = 0) async -> Bool {
        await deliver(address, Delivery(stream: address.stream, action: .stanza, delayMillis: delayMillis, payload: bytes), owner: owner)
    }

    func bounce(_ stanza: RoutedStanza, condition: String) async {
        guard let sender = stanza.sender, stanza.type != "error", stanza.type != "result" else { return }
        _ = await deliver(sender, Delivery(stream: sender.stream, action: .bounce, condition: condition, payload: stanza.stanza))
    }

    func kill(_ address: SessionAddress, condition: String, text: String) async {
        guard let peer = context.livePeer(named: address.frontend) else { return }
        _ = try? await peer.call(RoutingMethods.sessionKill, SessionKill(stream: address.stream, condition: condition, text: text).encoded(), timeout: .seconds(2))
    }

    /// Sends a stanza to the router that owns its destination (this one included).
    func routeToOwner(_ stanza: RoutedStanza) async {
        let bare = JIDText.bare(stanza.to)
        guard let owner = context.viewCache.owner(of: bare, role: .router) else {
            logger.warning("no live router for a stanza", metadata: ["to": "\(bare)"])
            return
        }
        if owner.name == context.name {
            await route(stanza)
            return
        }
        guard let peer = context.livePeer(named: owner.name) else { return }
        do {
            _ = try await peer.call(RoutingMethods.route, stanza.encoded(), timeout: .seconds(3))
        } catch {
            logger.warning("routing to the owner failed", metadata: ["to": "\(bare)", "owner": "\(owner.name)", "error": "\(error)"])
            await bounce(stanza, condition: "remote-server-timeout")
        }
    }
}
