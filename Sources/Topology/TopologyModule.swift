import ETunnel
import MMGSShared
import NodeRuntime

/// The topology manager role. Its membership shell runs as a manager: it admits joining nodes
/// and, when it is the live manager with the lowest name, publishes each new view (see
/// `ViewPublisher`). Any number of managers may run; the others follow and take over.
public struct TopologyModule: RoleModule {
    public init() {}

    public var role: NodeRole { .topology }

    public func register(into methods: inout ETunnelMethods, context: NodeContext) throws {}
}
