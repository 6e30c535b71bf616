/// Failure-detector timing. Defaults detect a killed node on loopback in about 1.5 s
/// (probe ≤ 0.2 s, indirect probe ≤ 0.3 s, suspicion 0.8 s, then one view push).
public struct SWIMSettings: Sendable, Equatable {
    /// One probe of one member per interval, round-robin over a shuffled member list.
    public var probeInterval: Duration = .milliseconds(200)
    public var pingTimeout: Duration = .milliseconds(150)
    /// Members asked to probe on our behalf when a direct ping fails.
    public var indirectProbeCount = 3
    public var indirectTimeout: Duration = .milliseconds(300)
    /// How long a member stays suspect before it is declared down (unless it refutes).
    public var suspicionTimeout: Duration = .milliseconds(800)
    /// Each update is piggybacked on about `λ·log2(n+1)` messages.
    public var gossipMultiplier = 3
    public var maxGossipPerMessage = 16
    /// Down members stay listed (so operators see them) for this long, then are forgotten.
    public var forgetDownAfter: Duration = .seconds(600)
    /// Lifeguard local health: each missed ack raises timeouts by one step, up to this many.
    public var maxLocalHealth = 4

    public init() {}
}
