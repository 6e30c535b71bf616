import ETunnel
import MMGSShared
import NodeRuntime

/// The router role: the switching core, owner of the users whose bare JIDs hash to it.
public struct RouterModule: RoleModule {
    public init() {}

    public var role: NodeRole { .router }

    public func register(into methods: inout ETunnelMethods, context: NodeContext) {
        PathTracer(context: context, role: .router, next: .transport).register(into: &methods)
    }
}
