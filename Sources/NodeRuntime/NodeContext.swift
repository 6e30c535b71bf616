import ETunnel
import Logging
import MMGSShared
import Membership
import ServiceLifecycle

/// What a role's code gets from the node it runs in.
public struct NodeContext: Sendable {
    public let configuration: NodeConfiguration
    public let myself: MemberInfo
    public let shell: MembershipShell
    public let client: ETunnelClient
    public let logger: Logger

    public var viewCache: ViewCache { shell.viewCache }
    public var name: String { configuration.name }

    /// The eTunnel peer of the member called `name` in the current view; nil when that member is
    /// unknown, down, or advertises no eTunnel endpoint.
    public func livePeer(named name: String) -> ETunnelPeer? {
        guard let member = viewCache.view?.member(named: name), member.status != .down,
              let endpoint = member.info.etunnel.flatMap(ETunnelEndpoint.init) else { return nil }
        return client.peer(endpoint)
    }
}

/// A role plugged into the node runtime: the eTunnel methods it serves and the services it runs
/// beside membership (a front-end's device listener, for instance).
public protocol RoleModule: Sendable {
    var role: NodeRole { get }
    /// Registers the role's methods; may open the role's state (a router's journal) and throw.
    func register(into methods: inout ETunnelMethods, context: NodeContext) throws
    func services(context: NodeContext) -> [any Service]
    /// Extra endpoints to advertise in the view (e.g. "xmpp").
    func endpoints(configuration: NodeConfiguration) -> [String: String]
}

extension RoleModule {
    public func services(context: NodeContext) -> [any Service] { [] }
    public func endpoints(configuration: NodeConfiguration) -> [String: String] { [:] }
}
