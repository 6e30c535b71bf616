import MMGSShared

/// What a topology manager publishes, decided without I/O. The live manager with the lowest
/// name is the publisher; the others follow its views and take over, one epoch higher than the
/// last they saw, when SWIM declares it down. The epoch advances whenever the view's shape (who,
/// which process, which status) changes.
public struct ViewPublisher: Sendable {
    public let localName: String
    public private(set) var lastPublished: ClusterView?

    public init(localName: String) {
        self.localName = localName
    }

    public static func leader(of members: [MemberState]) -> String? {
        // A suspect publisher keeps publishing: a false suspicion must not make two managers
        // publish; a real failure turns it down within the suspicion timeout.
        members.filter { $0.info.role == .topology && $0.status != .down }.map(\.name).min()
    }

    /// The view to publish now, or nil when this manager is not the leader or nothing changed.
    /// `current` is the newest view this node has seen from any manager.
    public mutating func nextView(members: [MemberState], current: ClusterView?) -> ClusterView? {
        guard Self.leader(of: members) == localName else { return nil }
        let candidate = ClusterView(epoch: 0, publisher: localName, members: members)
        let base = max(current?.epoch ?? 0, lastPublished?.epoch ?? 0)
        if let current, current.shape == candidate.shape, current.members == candidate.members {
            return nil
        }
        let view = ClusterView(epoch: base + 1, publisher: localName, members: members)
        lastPublished = view
        return view
    }
}
