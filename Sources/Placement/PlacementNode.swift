/// A member of the placement view: a process that can own partitions.
///
/// `name` is the identity that placement hashes, so it must be the same string on every
/// process (e.g. the node's configured name, never an ephemeral address or port).
/// `weight` scales the node's expected share of partitions linearly: a weight-2 node gets
/// about twice the partitions of a weight-1 node. It must be finite and greater than zero.
public struct PlacementNode: Hashable, Sendable {
    public var name: String
    public var weight: Double

    public init(name: String, weight: Double = 1) {
        precondition(weight.isFinite && weight > 0, "PlacementNode weight must be finite and > 0")
        self.name = name
        self.weight = weight
    }
}
