import MMGSShared
import Placement
import Synchronization

/// The view this node currently follows, readable from any thread without an actor hop (event-
/// loop handlers route by it), with each role's placement table computed once per view.
public final class ViewCache: Sendable {
    private let state = Mutex<(view: ClusterView?, tables: [NodeRole: PlacementTable])>((nil, [:]))

    public init() {}

    public var view: ClusterView? { state.withLock { $0.view } }

    public var epoch: UInt64? { view?.epoch }

    /// Installs `view` if it is newer than the current one; returns whether it was.
    @discardableResult
    public func adopt(_ view: ClusterView) -> Bool {
        state.withLock { state in
            guard view.isNewer(than: state.view) else { return false }
            state.view = view
            state.tables = [:]
            return true
        }
    }

    public func placement(for role: NodeRole) -> PlacementTable? {
        state.withLock { state in
            guard let view = state.view else { return nil }
            if let table = state.tables[role] { return table }
            let table = view.placement(for: role)
            state.tables[role] = table
            return table
        }
    }

    /// The member that owns `key` among live members of `role`, per the current view.
    public func owner(of key: String, role: NodeRole) -> MemberState? {
        guard let table = placement(for: role), let name = table.owner(of: key) else { return nil }
        return view?.member(named: name)
    }
}
