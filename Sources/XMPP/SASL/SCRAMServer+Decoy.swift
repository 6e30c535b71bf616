/// Decoy credentials for usernames that do not exist.
///
/// If the server failed at client-first for unknown users, or answered them with a fresh random
/// salt each time, an attacker could list valid accounts: real accounts have a stable salt. So the
/// server answers every unknown user with credentials derived from a secret: the same username
/// always gets the same salt and iteration count, the exchange costs the same HMACs as a real one,
/// and it fails at the proof with not-authorized, exactly like a wrong password.
extension SCRAMServer {
    /// Per-process secret. `static let` is initialised once, lazily and thread-safely.
    private static let processDecoySecret: [UInt8] = SASLBytes.random(count: 32)

    /// Returns fake but stable credentials for `username`.
    ///
    /// - Parameters:
    ///   - iterations: should equal what real accounts use (4096 by default), or the `i=` value gives
    ///     the game away; it is clamped into `SCRAMCredentials.iterationRange`.
    ///   - secret: `nil` uses a random per-process secret. In a cluster where several front-ends can
    ///     answer the same user, pass a cluster-wide secret instead: with per-process secrets an
    ///     unknown user's salt changes from node to node while a real user's does not.
    public static func decoyCredentials(
        for username: String, algorithm: SCRAMAlgorithm, iterations: Int = 4096, secret: [UInt8]? = nil
    ) -> SCRAMCredentials {
        let key = secret ?? processDecoySecret
        func derive(_ label: String, count: Int) -> [UInt8] {
            // Label, algorithm and username are separated by NUL, which none of them can contain
            // in a way that matters (a NUL in a username is rejected at parsing).
            let input = Array("\(label)\u{0}\(algorithm.mechanismName)\u{0}\(username)".utf8)
            return Array(SCRAMAlgorithm.sha256.hmac(key: key, data: input).prefix(count))
        }
        let digest = algorithm.digestByteCount
        return SCRAMCredentials(
            unchecked: algorithm,
            salt: derive("mmgs-scram-decoy-salt", count: SCRAMCredentials.defaultSaltLength),
            iterations: min(max(iterations, SCRAMCredentials.iterationRange.lowerBound),
                            SCRAMCredentials.iterationRange.upperBound),
            storedKey: derive("mmgs-scram-decoy-stored-key", count: digest),
            serverKey: derive("mmgs-scram-decoy-server-key", count: digest))
    }
}

extension SCRAMCredentials {
    /// For values that are valid by construction (the decoys): skips the throwing checks.
    init(unchecked algorithm: SCRAMAlgorithm, salt: [UInt8], iterations: Int, storedKey: [UInt8], serverKey: [UInt8]) {
        self.algorithm = algorithm
        self.salt = salt
        self.iterations = iterations
        self.storedKey = storedKey
        self.serverKey = serverKey
    }
}
