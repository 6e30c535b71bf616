/// The client side of SCRAM-SHA-1 / SCRAM-SHA-256 without channel binding (gs2 header `n,,`).
///
/// Used by the tests (as an independent check of the server) and by the load generator. It
/// verifies the server signature, so a successful run proves both sides know the password.
///
///     var client = SCRAMClient(algorithm: .sha256, username: "alice", password: "secret")
///     send(auth: client.clientFirst())
///     send(response: try client.receiveServerFirst(challenge))
///     try client.receiveServerFinal(successData)
public struct SCRAMClient: Sendable {
    public let algorithm: SCRAMAlgorithm
    public let username: String
    /// Server-first with fewer iterations fails with mechanism-too-weak. RFC 7677 §4 says 4096 is
    /// the minimum; tests may lower it.
    public let minimumIterations: Int
    /// Server-first with more iterations fails (malformed-request) so that a hostile or misconfigured
    /// server cannot make the client burn minutes of CPU.
    public let maximumIterations: Int

    /// The SASLprep'd password, or why it could not be prepared; reported at `receiveServerFirst`
    /// so that the initialiser does not need to throw.
    private let preparedPassword: Result<[UInt8], SCRAMCredentialsError>
    private let clientNonce: [UInt8]
    private let clientFirstBare: [UInt8]
    private static let gs2Header: [UInt8] = Array("n,,".utf8)
    private var state: State = .awaitingServerFirst

    private enum State: Sendable {
        case awaitingServerFirst
        case awaitingServerFinal(expectedServerSignature: [UInt8])
        case succeeded
        case failed
    }

    /// - Parameters:
    ///   - username: sent as-is (escaped as a saslname; no SASLprep of the username, which XMPP
    ///     servers map to a JID localpart with their own rules anyway).
    ///   - password: SASLprep'd like `SCRAMCredentials.derive` does.
    ///   - clientNonce: for tests (RFC vectors); `nil` draws 144 random bits. A supplied nonce must be
    ///     printable ASCII without ','; anything else is a programming error and traps.
    public init(
        algorithm: SCRAMAlgorithm, username: String, password: String, clientNonce: String? = nil,
        minimumIterations: Int = 4096, maximumIterations: Int = SCRAMCredentials.iterationRange.upperBound
    ) {
        let nonce = Array((clientNonce ?? SASLBytes.randomNonce()).utf8)
        precondition(SASLBytes.isValidNonce(nonce), "client nonce must be printable ASCII without ','")
        self.algorithm = algorithm
        self.username = username
        self.minimumIterations = minimumIterations
        self.maximumIterations = min(maximumIterations, SCRAMCredentials.iterationRange.upperBound)
        self.clientNonce = nonce
        self.preparedPassword = Result { () throws(SCRAMCredentialsError) in try SASLprep.preparedBytes(password) }
        self.clientFirstBare = Array("n=".utf8) + SCRAMSyntax.escapeSaslname(username) + Array(",r=".utf8) + nonce
    }

    /// client-first-message, the initial response of `<auth>`.
    public func clientFirst() -> [UInt8] {
        Self.gs2Header + clientFirstBare
    }

    /// Parses server-first-message and returns client-final-message (with the proof).
    ///
    /// Fails when the server's nonce does not extend ours (not-authorized), the salt or iteration
    /// count is missing or invalid (malformed-request), or the count is below `minimumIterations`
    /// (mechanism-too-weak).
    public mutating func receiveServerFirst(_ message: [UInt8]) throws(SASLError) -> [UInt8] {
        guard case .awaitingServerFirst = state else {
            state = .failed
            throw .malformed("unexpected server-first-message")
        }
        do {
            let (reply, expected) = try computeClientFinal(message)
            state = .awaitingServerFinal(expectedServerSignature: expected)
            return reply
        } catch {
            state = .failed
            throw error
        }
    }

    private func computeClientFinal(_ message: [UInt8]) throws(SASLError) -> (reply: [UInt8], serverSignature: [UInt8]) {
        try SCRAMSyntax.checkMessage(message, name: "server-first-message")
        let fields = SCRAMSyntax.fields(message)
        guard fields.count >= 3 else { throw .malformed("server-first-message: missing attributes") }
        if SCRAMSyntax.attribute(fields[0])?.name == UInt8(ascii: "m") {
            throw .malformed("mandatory SCRAM extensions (m=) are not supported")
        }
        let nonce = try SCRAMSyntax.value(of: "r", in: fields[0], message: "server-first-message")
        let saltValue = try SCRAMSyntax.value(of: "s", in: fields[1], message: "server-first-message")
        let iterationValue = try SCRAMSyntax.value(of: "i", in: fields[2], message: "server-first-message")
        try SCRAMSyntax.checkExtensions(fields[3...], message: "server-first-message")

        guard SASLBytes.isValidNonce(nonce) else { throw .malformed("server nonce contains invalid characters") }
        guard nonce.count > clientNonce.count, nonce.starts(with: clientNonce) else {
            throw .notAuthorized("server nonce does not extend the client nonce")
        }
        let salt = try SCRAMSyntax.base64(saltValue, what: "salt (s=)")
        guard !salt.isEmpty else { throw .malformed("empty salt") }
        guard !iterationValue.isEmpty, iterationValue.count <= 9,
              iterationValue.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              let iterations = Int(String(decoding: iterationValue, as: UTF8.self)), iterations > 0
        else { throw .malformed("invalid iteration count") }
        guard iterations >= minimumIterations else {
            throw SASLError(.mechanismTooWeak, "iteration count \(iterations) is below \(minimumIterations)")
        }
        guard iterations <= maximumIterations else {
            throw .malformed("iteration count \(iterations) exceeds the client limit \(maximumIterations)")
        }
        let password: [UInt8]
        switch preparedPassword {
        case .success(let bytes): password = bytes
        case .failure: throw .malformed("password is not acceptable to SASLprep")
        }
        let salted: [UInt8]
        do {
            salted = try algorithm.saltedPassword(normalizedPassword: password, salt: salt, iterations: iterations)
        } catch {
            throw .malformed("cannot derive keys: \(error)")
        }
        let keys = SCRAMKeys(algorithm: algorithm, saltedPassword: salted)
        let withoutProof = Array("c=".utf8) + Array(SASLBase64.encode(Self.gs2Header).utf8) + Array(",r=".utf8) + nonce
        let authMessage = clientFirstBare + [SCRAMSyntax.comma] + message + [SCRAMSyntax.comma] + withoutProof
        let clientSignature = algorithm.hmac(key: keys.storedKey, data: authMessage)
        let proof = SASLBytes.xor(keys.clientKey, clientSignature)
        let serverSignature = algorithm.hmac(key: keys.serverKey, data: authMessage)
        let reply = withoutProof + Array(",p=".utf8) + Array(SASLBase64.encode(proof).utf8)
        return (reply, serverSignature)
    }

    /// Verifies server-final-message (`v=<ServerSignature>`): only a server that knows the
    /// credentials can produce it. An `e=` error from the server, or a wrong signature, fails with
    /// not-authorized.
    public mutating func receiveServerFinal(_ message: [UInt8]) throws(SASLError) {
        guard case .awaitingServerFinal(let expected) = state else {
            state = .failed
            throw .malformed("unexpected server-final-message")
        }
        state = .failed
        try SCRAMSyntax.checkMessage(message, name: "server-final-message")
        let fields = SCRAMSyntax.fields(message)
        if let (name, value) = SCRAMSyntax.attribute(fields[0]), name == UInt8(ascii: "e") {
            throw .notAuthorized("server error: \(String(decoding: value, as: UTF8.self))")
        }
        let signatureValue = try SCRAMSyntax.value(of: "v", in: fields[0], message: "server-final-message")
        try SCRAMSyntax.checkExtensions(fields[1...], message: "server-final-message")
        let signature = try SCRAMSyntax.base64(signatureValue, what: "server signature (v=)")
        guard SASLBytes.constantTimeEqual(signature, expected) else {
            throw .notAuthorized("server signature mismatch")
        }
        state = .succeeded
    }

    /// True once the server's signature has been verified.
    public var isAuthenticated: Bool {
        if case .succeeded = state { return true }
        return false
    }
}
