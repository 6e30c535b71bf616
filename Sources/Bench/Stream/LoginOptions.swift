import XMPPCore

/// The SASL mechanism a device logs in with. The generator never negotiates down: a device
/// asked to use SCRAM-SHA-256 fails (and is reported) when the server does not offer it, so a
/// run measures exactly the mechanism that was asked for.
public enum LoginMechanism: String, Sendable, Codable, CaseIterable {
    case plain = "PLAIN"
    case scramSHA1 = "SCRAM-SHA-1"
    case scramSHA256 = "SCRAM-SHA-256"

    /// Accepts the IANA name in any case (`plain`, `scram-sha-256`).
    public init?(argument: String) {
        guard let match = Self.allCases.first(where: { $0.rawValue.lowercased() == argument.lowercased() }) else { return nil }
        self = match
    }

    var scramAlgorithm: SCRAMAlgorithm? {
        switch self {
        case .plain: nil
        case .scramSHA1: .sha1
        case .scramSHA256: .sha256
        }
    }
}

/// What one device needs to log in; the same for every device apart from the user name.
public struct LoginOptions: Sendable {
    public var username: String
    public var domain: String
    public var password: String
    public var mechanism: LoginMechanism
    /// Require STARTTLS before authenticating (the certificate is not verified: test servers use
    /// self-signed ones).
    public var startTLS: Bool
    /// The resource to ask for; nil lets the server pick one.
    public var resource: String?
    /// Send initial presence once bound (a device that is "online" in the roster sense).
    public var sendPresence: Bool
    /// Lowest SCRAM iteration count accepted. 4096 is RFC 7677's minimum; test servers may use
    /// fewer.
    public var minimumIterations: Int
    /// Reuse SCRAM key derivations across logins with the same salt (see ``CachedSCRAMClient``).
    public var cacheSCRAMKeys: Bool

    public init(
        username: String, domain: String, password: String, mechanism: LoginMechanism,
        startTLS: Bool = false, resource: String? = "bench", sendPresence: Bool = true, minimumIterations: Int = 4096,
        cacheSCRAMKeys: Bool = true
    ) {
        self.cacheSCRAMKeys = cacheSCRAMKeys
        self.username = username
        self.domain = domain
        self.password = password
        self.mechanism = mechanism
        self.startTLS = startTLS
        self.resource = resource
        self.sendPresence = sendPresence
        self.minimumIterations = minimumIterations
    }
}
