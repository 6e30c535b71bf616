import ETunnel
import MMGSShared
import NodeRuntime

/// The front-end role: terminates device connections (the XMPP listener arrives with the
/// private-community work) and forwards to the router that owns each destination.
public struct FrontEndModule: RoleModule {
    public init() {}

    public var role: NodeRole { .frontend }

    public func register(into methods: inout ETunnelMethods, context: NodeContext) throws {
        PathTracer(context: context, role: .frontend, next: .router).register(into: &methods)
    }

    public func endpoints(configuration: NodeConfiguration) -> [String: String] {
        configuration.xmpp.map { ["xmpp": $0.description] } ?? [:]
    }
}
