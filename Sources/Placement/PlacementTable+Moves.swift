/// One partition whose owner differs between two tables: the data/sessions of `partition` must
/// be handed off from `from` to `to`. `from` is nil when the old view was empty, `to` when the
/// new one is.
public struct PartitionMove: Hashable, Sendable {
    public var partition: Int
    public var from: String?
    public var to: String?

    public init(partition: Int, from: String?, to: String?) {
        self.partition = partition
        self.from = from
        self.to = to
    }
}

extension PlacementTable {
    /// The handoff list from this table to `other`, in partition order: every partition whose
    /// owner changes. Both tables must have the same `partitionCount` (it is fixed per cluster;
    /// changing it re-partitions every key and needs a different migration).
    public func moves(to other: PlacementTable) -> [PartitionMove] {
        precondition(partitionCount == other.partitionCount, "moves(to:) needs equal partition counts")
        var result: [PartitionMove] = []
        for p in 0..<partitionCount {
            let from = owner(ofPartition: p)
            let to = other.owner(ofPartition: p)
            if from != to { result.append(PartitionMove(partition: p, from: from, to: to)) }
        }
        return result
    }

    /// The partitions `node` owns, ascending (empty if it is not in the view).
    public func partitions(ownedBy node: String) -> [Int] {
        guard let index = nodes.firstIndex(where: { $0.name == node }) else { return [] }
        var result: [Int] = []
        for (p, o) in owners.enumerated() where Int(o) == index { result.append(p) }
        return result
    }
}
