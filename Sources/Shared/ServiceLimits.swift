/// What one account or one device stream may hold or send: everything a client controls is
/// bounded (cluster file `"limits"`; every key is optional). Routers enforce the account
/// quotas, front-ends the per-stream rate and the failed-login back-off.
public struct ServiceLimits: Sendable, Equatable {
    /// Resources bound at once per account; the bind beyond gets `resource-constraint`
    /// (RFC 6120 §7.6.2.1).
    public var maxResourcesPerAccount = 32
    /// Offline messages kept per account; beyond, the sender gets `service-unavailable`
    /// (XEP-0160 §3).
    public var maxOfflinePerAccount = 1000
    /// Roster items (and pending inbound subscription requests) per account; beyond,
    /// `not-allowed` (RFC 6121 §2.3.3).
    public var maxRosterItems = 1000
    /// Stanzas per second a stream may send, sustained, and in a burst: a faster device is read
    /// more slowly (its TCP window closes), never dropped.
    public var stanzaRate = 200
    public var stanzaBurst = 1000
    /// XEP-0198: stanzas sent to a stream and not acknowledged, at most; beyond, a connected
    /// stream ends with `policy-violation` and a detached one takes nothing more (the router
    /// keeps the message offline).
    public var maxUnackedStanzas = 5000
    /// Failed SASL attempts: the first `<failure/>` of an account waits
    /// `authBackoffBaseMillis`, each further one twice as long, up to `authBackoffMaxMillis`;
    /// forgotten after `authBackoffWindowSeconds` without a failure.
    public var authBackoffBaseMillis = 250
    public var authBackoffMaxMillis = 8000
    public var authBackoffWindowSeconds = 60
    /// Failures from one source address that go unpunished within the window (devices behind a
    /// carrier's NAT share addresses): the address's own back-off starts after these.
    public var authBackoffAddressAllowance = 16

    public init() {}

    /// The keys of the cluster file's `"limits"` object, with their accepted ranges.
    public static let keys: [(key: String, range: ClosedRange<Int>, path: any WritableKeyPath<ServiceLimits, Int> & Sendable)] = [
        ("max_resources_per_account", 1 ... 1000, \.maxResourcesPerAccount),
        ("max_offline_per_account", 0 ... 1_000_000, \.maxOfflinePerAccount),
        ("max_roster_items", 1 ... 100_000, \.maxRosterItems),
        ("stanza_rate", 1 ... 1_000_000, \.stanzaRate),
        ("stanza_burst", 1 ... 1_000_000, \.stanzaBurst),
        ("max_unacked_stanzas", 16 ... 1_000_000, \.maxUnackedStanzas),
        ("auth_backoff_base_ms", 0 ... 60_000, \.authBackoffBaseMillis),
        ("auth_backoff_max_ms", 0 ... 600_000, \.authBackoffMaxMillis),
        ("auth_backoff_window_s", 1 ... 86_400, \.authBackoffWindowSeconds),
        ("auth_backoff_address_allowance", 0 ... 1_000_000, \.authBackoffAddressAllowance),
    ]
}
