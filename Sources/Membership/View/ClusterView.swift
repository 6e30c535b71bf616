import ETunnel
import MMGSShared
import NIOCore
import Placement

/// The versioned placement view a topology manager publishes: every member with its status,
/// stamped with an epoch. Nodes adopt a view only if it is newer: a higher epoch, or the same
/// epoch from a publisher that sorts later (two managers that both published in a partition
/// converge on one of them).
public struct ClusterView: Sendable, Equatable, ETunnelMessage {
    public var epoch: UInt64
    public var publisher: String
    public var members: [MemberState]

    public init(epoch: UInt64, publisher: String, members: [MemberState]) {
        self.epoch = epoch
        self.publisher = publisher
        self.members = members.sorted { $0.name < $1.name }
    }

    public func isNewer(than other: ClusterView?) -> Bool {
        guard let other else { return true }
        return (epoch, publisher) > (other.epoch, other.publisher)
    }

    public func member(named name: String) -> MemberState? {
        members.first { $0.name == name }
    }

    /// Members of a role that may own keys: up, or suspect (a suspect may well be alive; SWIM
    /// settles it within the suspicion timeout, and moving keys twice costs more).
    public func live(_ role: NodeRole) -> [MemberState] {
        members.filter { $0.info.role == role && $0.status != .down }
    }

    /// The placement table of one role at this view's epoch.
    public func placement(for role: NodeRole) -> PlacementTable {
        PlacementTable(epoch: epoch, nodes: live(role).map { PlacementNode(name: $0.name) })
    }

    /// What changes the epoch: who is in the view, which process each is, and its status.
    public var shape: [String] {
        members.map { "\($0.name)/\($0.info.generation)/\($0.info.uid)/\($0.status.rawValue)" }
    }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        epoch = try buffer.readPayloadInteger(UInt64.self, field: "view.epoch")
        publisher = try buffer.readShortString(field: "view.publisher")
        members = try buffer.readMemberStates()
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        buffer.writeInteger(epoch)
        try buffer.writeShortString(publisher)
        try buffer.writeMemberStates(members)
    }
}
