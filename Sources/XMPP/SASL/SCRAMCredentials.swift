/// What the server stores for a SCRAM account instead of the password (RFC 5802 §3, §5.1).
///
/// `StoredKey = H(HMAC(SaltedPassword, "Client Key"))` lets the server verify a client proof, and
/// `ServerKey = HMAC(SaltedPassword, "Server Key")` lets it prove to the client that it knows the
/// password too. Neither allows logging in as the user without first brute-forcing the salted
/// password, which is the point of storing these instead of the password.
public struct SCRAMCredentials: Sendable, Hashable {
    /// The hash function; credentials of one algorithm cannot verify another algorithm's exchange.
    public let algorithm: SCRAMAlgorithm
    /// The per-account salt sent to the client in server-first (`s=`).
    public let salt: [UInt8]
    /// The PBKDF2 iteration count sent to the client in server-first (`i=`).
    public let iterations: Int
    /// `H(ClientKey)`.
    public let storedKey: [UInt8]
    /// `HMAC(SaltedPassword, "Server Key")`.
    public let serverKey: [UInt8]

    /// Iteration counts accepted anywhere in this module. At least 1 by definition of `Hi`; at most
    /// 10 million so that a hostile server, or a corrupted record, cannot make a derivation take
    /// minutes (and because BoringSSL takes the count as `UInt32`).
    public static let iterationRange: ClosedRange<Int> = 1...10_000_000

    /// Salt lengths accepted (the storage format keeps the length in one byte).
    public static let saltLengthRange: ClosedRange<Int> = 1...255

    /// Length of the salt that `derive` generates when none is given: 128 bits, as RFC 7677 suggests
    /// and as the decoy credentials use, so real and fake server-first messages look alike.
    public static let defaultSaltLength = 16

    /// Creates credentials from their parts, checking that lengths and ranges are consistent.
    public init(
        algorithm: SCRAMAlgorithm, salt: [UInt8], iterations: Int, storedKey: [UInt8], serverKey: [UInt8]
    ) throws(SCRAMCredentialsError) {
        guard Self.saltLengthRange.contains(salt.count) else { throw .invalidSalt }
        guard Self.iterationRange.contains(iterations) else { throw .invalidIterations(iterations) }
        guard storedKey.count == algorithm.digestByteCount, serverKey.count == algorithm.digestByteCount else {
            throw .invalidKeyLength
        }
        self.algorithm = algorithm
        self.salt = salt
        self.iterations = iterations
        self.storedKey = storedKey
        self.serverKey = serverKey
    }

    /// Derives the stored credentials from a password (account creation and password change).
    ///
    /// - Parameters:
    ///   - password: prepared with the module's pragmatic SASLprep (see `SASLprep`); empty passwords and
    ///     passwords with control characters are rejected.
    ///   - salt: `nil` draws 16 random bytes, which is what production code wants; tests pass the RFC salts.
    ///   - iterations: 4096 is the RFC 5802/7677 minimum that clients accept without complaint.
    public static func derive(
        password: String, algorithm: SCRAMAlgorithm, salt: [UInt8]? = nil, iterations: Int = 4096
    ) throws(SCRAMCredentialsError) -> SCRAMCredentials {
        let salt = salt ?? SASLBytes.random(count: defaultSaltLength)
        guard saltLengthRange.contains(salt.count) else { throw .invalidSalt }
        let prepared = try SASLprep.preparedBytes(password)
        let salted = try algorithm.saltedPassword(normalizedPassword: prepared, salt: salt, iterations: iterations)
        let keys = SCRAMKeys(algorithm: algorithm, saltedPassword: salted)
        return try SCRAMCredentials(
            algorithm: algorithm, salt: salt, iterations: iterations,
            storedKey: keys.storedKey, serverKey: keys.serverKey)
    }

    /// Checks a cleartext password (from SASL PLAIN) against these credentials.
    ///
    /// This is how PLAIN works with SCRAM-only storage: redo `Hi()` with the stored salt and iteration
    /// count and compare the resulting StoredKey in constant time. It costs one full PBKDF2, like a SCRAM
    /// client does. For an unknown user, call it on `SCRAMServer.decoyCredentials(for:algorithm:)` so the
    /// time spent does not reveal that the account does not exist. Passwords that SASLprep rejects
    /// simply do not verify.
    public func verifies(plainPassword: String) -> Bool {
        guard let prepared = try? SASLprep.preparedBytes(plainPassword),
              let salted = try? algorithm.saltedPassword(normalizedPassword: prepared, salt: salt, iterations: iterations)
        else { return false }
        let keys = SCRAMKeys(algorithm: algorithm, saltedPassword: salted)
        return SASLBytes.constantTimeEqual(keys.storedKey, storedKey)
    }
}

extension SCRAMCredentials: CustomStringConvertible, CustomDebugStringConvertible {
    /// Redacted: the keys are password-equivalent for an offline attack and must not end up in logs.
    public var description: String {
        "SCRAMCredentials(\(algorithm.mechanismName), i=\(iterations), salt=\(salt.count) bytes, keys redacted)"
    }

    public var debugDescription: String { description }
}

/// Why credentials could not be derived, built or decoded. Not a `SASLError`: these are local
/// problems (account provisioning, storage) and never something to send to a client.
public enum SCRAMCredentialsError: Error, Sendable, Equatable {
    /// The password is empty or contains characters SASLprep prohibits.
    case invalidPassword(String)
    /// The salt is empty or longer than 255 bytes.
    case invalidSalt
    /// The iteration count is outside `SCRAMCredentials.iterationRange`.
    case invalidIterations(Int)
    /// StoredKey or ServerKey does not have the algorithm's digest length.
    case invalidKeyLength
    /// PBKDF2 itself failed (should not happen with validated parameters).
    case derivationFailed
    /// A stored blob is truncated, has trailing bytes, an unknown version or algorithm, or a bad checksum.
    case corruptEncoding(String)
}

/// The keys derived from a SaltedPassword (RFC 5802 §3), shared by credentials, server and client.
struct SCRAMKeys {
    let clientKey: [UInt8]
    let storedKey: [UInt8]
    let serverKey: [UInt8]

    init(algorithm: SCRAMAlgorithm, saltedPassword: [UInt8]) {
        clientKey = algorithm.hmac(key: saltedPassword, data: Array("Client Key".utf8))
        storedKey = algorithm.hash(clientKey)
        serverKey = algorithm.hmac(key: saltedPassword, data: Array("Server Key".utf8))
    }
}
