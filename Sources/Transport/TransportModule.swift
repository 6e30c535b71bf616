import ETunnel
import MMGSShared
import NodeRuntime

/// The transport role: holds sessions with public communities, by hash of the linked account.
public struct TransportModule: RoleModule {
    public init() {}

    public var role: NodeRole { .transport }

    public func register(into methods: inout ETunnelMethods, context: NodeContext) throws {
        PathTracer(context: context, role: .transport, next: nil).register(into: &methods)
    }
}
