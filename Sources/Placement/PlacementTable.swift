import MMGSShared

/// Which node owns which key: consistent hashing with bounded loads over a fixed number of
/// partitions.
///
/// Keys hash to one of `partitionCount` partitions (fixed for the life of a cluster), and the
/// table maps each partition to a node, so `owner(of:)` is one hash plus an array lookup.
/// Partitions are assigned by weighted rendezvous hashing (see `Rendezvous`) with the bound of
/// Mirrokni, Thorup & Zadimoghaddam, "Consistent Hashing with Bounded Loads" (SODA 2018):
/// walking partitions in index order, each goes to the best-scoring node that is still below its
/// capacity `ceil((1 + ε) · P · weight / totalWeight)`. So no node ever holds more than (1 + ε)×
/// its fair share, while the assignment stays close to plain rendezvous hashing — with the
/// default ε = 0.25 the cap almost never binds, and a view change moves ≈ the minimum.
///
/// The table is a pure function of `(nodes as a set, partitionCount, epsilon)`: the order in
/// which nodes are passed does not matter, and only `StableHash` and bit-exact arithmetic are
/// used, so every process that sees the same view computes the same owners. `epoch` is carried
/// along for the caller (to order views) and does not affect the assignment.
public struct PlacementTable: Sendable, Equatable {
    public static let defaultPartitionCount = 4096
    public static let defaultEpsilon = 0.25

    /// The view version this table was built from; not an input to the assignment.
    public let epoch: UInt64
    /// The view's nodes, sorted by name, one per name.
    public let nodes: [PlacementNode]
    public let partitionCount: Int
    public let epsilon: Double
    /// A stable hash of the assignment (partition count and every partition's owner name).
    /// Equal digests mean, with overwhelming probability, identical owners; the epoch and the
    /// weights are deliberately not included — they are not the assignment.
    public let digest: UInt64

    /// `owners[p]` is the index in `nodes` of partition `p`'s owner; empty iff `nodes` is empty.
    @usableFromInline let owners: [UInt32]
    /// `nodeSeeds[i]` is `Rendezvous.nodeSeed(nodes[i].name)`.
    @usableFromInline let nodeSeeds: [UInt64]

    /// Builds the assignment for a view.
    ///
    /// - Parameters:
    ///   - nodes: The view. Order does not matter. Duplicate names collapse into one node with
    ///     the largest of their weights (an order-independent rule, so a membership layer that
    ///     briefly reports a node twice cannot crash the process or split the cluster).
    ///   - partitionCount: Must be > 0 and the same on every process of a cluster.
    ///   - epsilon: Load slack, ≥ 0. Smaller is tighter balance but more movement on changes.
    public init(
        epoch: UInt64,
        nodes: [PlacementNode],
        partitionCount: Int = defaultPartitionCount,
        epsilon: Double = defaultEpsilon
    ) {
        precondition(partitionCount > 0, "partitionCount must be > 0")
        precondition(epsilon.isFinite && epsilon >= 0, "epsilon must be finite and >= 0")
        self.epoch = epoch
        self.partitionCount = partitionCount
        self.epsilon = epsilon

        // Canonical view: sorted by name (UTF-8 order, locale-independent), duplicates merged.
        var canonical: [PlacementNode] = []
        canonical.reserveCapacity(nodes.count)
        for node in nodes.sorted(by: { Self.nameOrder($0.name, $1.name) }) {
            if let last = canonical.last, last.name == node.name {
                if node.weight > last.weight { canonical[canonical.count - 1].weight = node.weight }
            } else {
                canonical.append(node)
            }
        }
        precondition(canonical.count <= Int(UInt32.max), "too many nodes")
        self.nodes = canonical
        let seeds = canonical.map { Rendezvous.nodeSeed($0.name) }
        self.nodeSeeds = seeds
        self.owners = Self.assign(nodes: canonical, seeds: seeds, partitionCount: partitionCount, epsilon: epsilon)
        self.digest = Self.digest(owners: owners, seeds: seeds, partitionCount: partitionCount)
    }

    // MARK: Lookup

    /// The partition of a key: `StableHash` of its UTF-8 bytes modulo `partitionCount`.
    @inlinable
    public func partition(of key: String) -> Int {
        Int(StableHash.hash64(key) % UInt64(partitionCount))
    }

    /// The partition of a binary key. Same result as the `String` overload for its UTF-8 bytes.
    @inlinable
    public func partition<Bytes: Sequence>(of key: Bytes) -> Int where Bytes.Element == UInt8 {
        Int(StableHash.hash64(key) % UInt64(partitionCount))
    }

    /// The node that owns `key`, or nil when the view is empty.
    @inlinable
    public func owner(of key: String) -> String? {
        owner(ofPartition: partition(of: key))
    }

    /// The node that owns a binary key, or nil when the view is empty.
    @inlinable
    public func owner<Bytes: Sequence>(of key: Bytes) -> String? where Bytes.Element == UInt8 {
        owner(ofPartition: partition(of: key))
    }

    /// The owner of a partition; nil when the view is empty or `partition` is out of range
    /// (a peer with a different partition count is a configuration error, not a crash).
    @inlinable
    public func owner(ofPartition partition: Int) -> String? {
        guard owners.indices.contains(partition) else { return nil }
        return nodes[Int(owners[partition])].name
    }

    /// Up to `count` distinct node names for `key`: the owner first, then the other nodes in the
    /// partition's rendezvous order (best score first, ignoring capacities). Used to pick
    /// replicas/successors; since rendezvous order is stable under view changes, the successor
    /// of a failed owner is usually the node that will own the partition in the next view.
    /// `count` is clamped to `0...nodes.count`.
    public func preferenceList(of key: String, count: Int) -> [String] {
        preferenceList(ofPartition: partition(of: key), count: count)
    }

    /// `preferenceList(of:count:)` for a partition index; empty if out of range.
    public func preferenceList(ofPartition partition: Int, count: Int) -> [String] {
        let n = min(max(count, 0), nodes.count)
        guard n > 0, owners.indices.contains(partition) else { return [] }
        let owner = Int(owners[partition])
        var result = [nodes[owner].name]
        if n == 1 { return result }
        result.reserveCapacity(n)
        let seed = Rendezvous.partitionSeed(partition)
        var ranked: [(cost: Double, index: Int)] = []
        ranked.reserveCapacity(nodes.count - 1)
        for i in nodes.indices where i != owner {
            ranked.append((Rendezvous.cost(nodeSeed: nodeSeeds[i], partitionSeed: seed, weight: nodes[i].weight), i))
        }
        ranked.sort { $0.cost != $1.cost ? $0.cost < $1.cost : $0.index < $1.index }
        for entry in ranked.prefix(n - 1) { result.append(nodes[entry.index].name) }
        return result
    }

    /// Number of partitions each node owns (every node in the view appears, possibly with 0).
    public func partitionLoads() -> [String: Int] {
        var counts = [Int](repeating: 0, count: nodes.count)
        for o in owners { counts[Int(o)] += 1 }
        var result: [String: Int] = [:]
        result.reserveCapacity(nodes.count)
        for (i, node) in nodes.enumerated() { result[node.name] = counts[i] }
        return result
    }

    /// The most partitions `node` may own: `ceil((1 + ε) · P · weight / totalWeight)`;
    /// nil if `node` is not in the view.
    public func capacity(of node: String) -> Int? {
        guard let index = nodes.firstIndex(where: { $0.name == node }) else { return nil }
        return Self.capacities(nodes: nodes, partitionCount: partitionCount, epsilon: epsilon)[index]
    }

    // MARK: Construction

    /// Byte-wise UTF-8 order: identical on every platform and independent of locale and of
    /// Unicode normalisation (names are identities, compared as bytes).
    @usableFromInline
    static func nameOrder(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    static func capacities(nodes: [PlacementNode], partitionCount: Int, epsilon: Double) -> [Int] {
        // Summed in name order, so the total (and every capacity) is the same on every process.
        var totalWeight = 0.0
        for node in nodes { totalWeight += node.weight }
        let scale = (1 + epsilon) * Double(partitionCount) / totalWeight
        // Clamp to P so huge weight ratios cannot overflow the conversion. Ceiling by hand:
        // `rounded(.up)` calls libm's `ceil`, which this target otherwise does not need.
        var capacity = nodes.map { node -> Int in
            let share = min(scale * node.weight, Double(partitionCount))
            let whole = Int(share) // truncates; share ≥ 0
            return Double(whole) < share ? whole + 1 : whole
        }
        // In exact arithmetic Σ capacity ≥ (1 + ε) · P ≥ P, so every partition finds a node with
        // room. Rounding can break that only when ε ≈ 0; top up in name order (deterministic).
        var deficit = partitionCount - capacity.reduce(0, +)
        var i = 0
        while deficit > 0 {
            capacity[i] += 1
            deficit -= 1
            i = (i + 1) % capacity.count
        }
        return capacity
    }

    /// Bounded-load assignment: partition by partition in index order, the lowest-cost
    /// (best rendezvous score) node with spare capacity; ties go to the lower name.
    /// O(P · N) with no per-partition allocation.
    static func assign(nodes: [PlacementNode], seeds: [UInt64], partitionCount: Int, epsilon: Double) -> [UInt32] {
        guard !nodes.isEmpty else { return [] }
        let capacity = capacities(nodes: nodes, partitionCount: partitionCount, epsilon: epsilon)
        let weights = nodes.map(\.weight)
        var load = [Int](repeating: 0, count: nodes.count)
        var owners = [UInt32](repeating: 0, count: partitionCount)
        weights.withUnsafeBufferPointer { weights in
            seeds.withUnsafeBufferPointer { seeds in
                capacity.withUnsafeBufferPointer { capacity in
                    load.withUnsafeMutableBufferPointer { load in
                        for p in 0..<partitionCount {
                            let partitionSeed = Rendezvous.partitionSeed(p)
                            var best = -1
                            var bestCost = Double.infinity
                            for i in 0..<seeds.count where load[i] < capacity[i] {
                                let cost = Rendezvous.cost(nodeSeed: seeds[i], partitionSeed: partitionSeed, weight: weights[i])
                                if cost < bestCost { // strict: earlier (lower-named) node wins ties
                                    bestCost = cost
                                    best = i
                                }
                            }
                            // Cost is finite, and Σ capacity ≥ P guarantees a node with room.
                            precondition(best >= 0, "placement: no node below capacity")
                            load[best] += 1
                            owners[p] = UInt32(best)
                        }
                    }
                }
            }
        }
        return owners
    }

    static func digest(owners: [UInt32], seeds: [UInt64], partitionCount: Int) -> UInt64 {
        var h = StableHash.combine(0x504c_4143_454d_4e54, UInt64(partitionCount)) // "PLACEMNT"
        for o in owners { h = StableHash.combine(h, seeds[Int(o)]) }
        return h
    }
}
