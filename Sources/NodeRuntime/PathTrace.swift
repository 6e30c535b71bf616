import ETunnel
import MMGSShared
import Membership
import NIOCore

/// `path.trace`: a real eTunnel call that follows a key through the tiers the way its traffic
/// will (front-end → owning router → owning transport) and returns the nodes it crossed. It is
/// how `mmgsctl path` shows that placement is consistent and that a dead node is routed around.
public enum PathTraceMethods {
    public static let trace = MethodID(service: 2, method: 1)
}

public struct PathHop: Sendable, Equatable {
    public var name: String
    public var role: NodeRole
    public var etunnel: String
    public var epoch: UInt64

    public init(name: String, role: NodeRole, etunnel: String, epoch: UInt64) {
        self.name = name
        self.role = role
        self.etunnel = etunnel
        self.epoch = epoch
    }
}

public struct PathTraceRequest: ETunnelMessage, Equatable {
    public var key: String
    /// Set when a node that did not own the key forwarded it to the owner it saw; a forwarded
    /// trace that still lands on a non-owner is refused rather than bounced around.
    public var forwarded: Bool

    public init(key: String, forwarded: Bool = false) {
        self.key = key
        self.forwarded = forwarded
    }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        key = try buffer.readShortString(field: "trace.key")
        forwarded = try buffer.readPayloadInteger(UInt8.self, field: "trace.forwarded") != 0
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        try buffer.writeShortString(key)
        buffer.writeInteger(UInt8(forwarded ? 1 : 0))
    }
}

public struct PathTraceAnswer: ETunnelMessage, Equatable {
    public var hops: [PathHop]

    public init(hops: [PathHop]) { self.hops = hops }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        let count = try buffer.readPayloadInteger(UInt8.self, field: "trace.hops")
        hops = []
        for _ in 0..<count {
            let name = try buffer.readShortString(field: "hop.name")
            let roleByte = try buffer.readPayloadInteger(UInt8.self, field: "hop.role")
            guard let role = NodeRole(wireValue: roleByte) else { throw ETunnelError(.badPayload, "hop.role: unknown role \(roleByte)") }
            let etunnel = try buffer.readShortString(field: "hop.etunnel")
            let epoch = try buffer.readPayloadInteger(UInt64.self, field: "hop.epoch")
            hops.append(PathHop(name: name, role: role, etunnel: etunnel, epoch: epoch))
        }
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        try buffer.writeCount(hops.count, as: UInt8.self, field: "trace.hops")
        for hop in hops {
            try buffer.writeShortString(hop.name)
            buffer.writeInteger(hop.role.wireValue)
            try buffer.writeShortString(hop.etunnel)
            buffer.writeInteger(hop.epoch)
        }
    }
}

/// Serves `path.trace` for a role: checks that this node owns the key (front-ends own every key
/// they are asked about: devices reach any of them through the load balancer), then asks the
/// owner in the `next` tier and prepends itself to its answer.
public struct PathTracer: Sendable {
    let context: NodeContext
    let role: NodeRole
    let next: NodeRole?

    public init(context: NodeContext, role: NodeRole, next: NodeRole?) {
        self.context = context
        self.role = role
        self.next = next
    }

    public func register(into methods: inout ETunnelMethods) {
        methods.register(PathTraceMethods.trace, async: { call in
            try await self.trace(PathTraceRequest.decode(call.payload)).encoded()
        })
    }

    func trace(_ request: PathTraceRequest) async throws -> PathTraceAnswer {
        guard let view = context.viewCache.view else {
            throw ETunnelError(.refused, "\(context.name) has no view yet")
        }
        if role != .frontend {
            guard let owner = context.viewCache.owner(of: request.key, role: role) else {
                throw ETunnelError(.refused, "no live \(role.rawValue) in view epoch \(view.epoch)")
            }
            if owner.name != context.name {
                guard !request.forwarded else {
                    throw ETunnelError(.refused, "\(context.name) does not own '\(request.key)' at epoch \(view.epoch) (\(owner.name) does)")
                }
                return try await call(owner, PathTraceRequest(key: request.key, forwarded: true))
            }
        }
        let me = PathHop(name: context.name, role: role, etunnel: context.configuration.etunnel.description, epoch: view.epoch)
        guard let next else { return PathTraceAnswer(hops: [me]) }
        guard let owner = context.viewCache.owner(of: request.key, role: next) else {
            throw ETunnelError(.refused, "no live \(next.rawValue) in view epoch \(view.epoch)")
        }
        let rest = try await call(owner, PathTraceRequest(key: request.key))
        return PathTraceAnswer(hops: [me] + rest.hops)
    }

    private func call(_ member: MemberState, _ request: PathTraceRequest) async throws -> PathTraceAnswer {
        guard let endpoint = member.info.etunnel.flatMap(ETunnelEndpoint.init) else {
            throw ETunnelError(.refused, "\(member.name) advertises no eTunnel endpoint")
        }
        return try await context.client.peer(endpoint).call(PathTraceMethods.trace, request, as: PathTraceAnswer.self, timeout: .seconds(2))
    }
}
