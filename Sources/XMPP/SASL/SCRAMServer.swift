/// The server side of one SCRAM-SHA-1 / SCRAM-SHA-256 exchange (RFC 5802 §3, §5; RFC 7677), without
/// channel binding, as a value-type state machine with no I/O.
///
/// The caller drives it with the decoded SASL payloads:
///
///     var scram = SCRAMServer(algorithm: .sha256)
///     let username = try scram.receiveClientFirst(authPayload)          // from <auth>
///     let credentials = store[username] ?? SCRAMServer.decoyCredentials(for: username, algorithm: .sha256)
///     send(challenge: scram.serverFirst(credentials: credentials))       // <challenge>
///     let serverFinal = try scram.receiveClientFinal(responsePayload)    // from <response>
///     send(success: serverFinal)                                         // <success>
///
/// Any thrown `SASLError` fails the exchange for good (later calls throw too); its condition goes
/// into `<failure>`. The caller must still decide on `authorizationIdentity` (RFC 6120 §6.3.8).
public struct SCRAMServer: Sendable {
    /// The mechanism this exchange runs.
    public let algorithm: SCRAMAlgorithm

    /// The username from client-first (after `=2C`/`=3D` unescaping), once received.
    public private(set) var username: String?

    /// The authorization identity (`a=` in the gs2 header), if the client sent one. SCRAM does not
    /// check it; the caller must reject it with `invalid-authzid` unless the authenticated user may act
    /// as that identity (usually: it must be the user's own bare JID).
    public private(set) var authorizationIdentity: String?

    private var state: State = .awaitingClientFirst

    private enum State: Sendable {
        case awaitingClientFirst
        case awaitingCredentials(ClientFirst)
        case awaitingClientFinal(ClientFirst, serverFirst: [UInt8], combinedNonce: [UInt8], credentials: SCRAMCredentials)
        case succeeded
        case failed
    }

    /// What client-first contributes to the rest of the exchange.
    private struct ClientFirst: Sendable {
        var gs2Header: [UInt8]
        var bare: [UInt8]
        var nonce: [UInt8]
    }

    public init(algorithm: SCRAMAlgorithm) {
        self.algorithm = algorithm
    }

    /// True once `receiveClientFinal` has verified the proof.
    public var isAuthenticated: Bool {
        if case .succeeded = state { return true }
        return false
    }

    // MARK: - client-first

    /// Parses client-first-message and returns the username, so the caller can look up credentials.
    ///
    /// Accepted gs2 headers are `n,,` (client does not support channel binding) and `y,,` (client
    /// supports it but believes we do not, which is true: no `-PLUS` mechanism is offered), each
    /// optionally with `a=authzid`. `p=…` asks for channel binding, which we cannot do, so it fails with
    /// malformed-request (RFC 5802 §6: the server MUST fail). A leading `m=` mandatory extension is
    /// not supported and fails too.
    public mutating func receiveClientFirst(_ message: [UInt8]) throws(SASLError) -> String {
        guard case .awaitingClientFirst = state else {
            state = .failed
            throw .malformed("unexpected client-first-message")
        }
        do {
            let (first, username, authzid) = try Self.parseClientFirst(message)
            self.username = username
            self.authorizationIdentity = authzid
            state = .awaitingCredentials(first)
            return username
        } catch {
            state = .failed
            throw error
        }
    }

    private static func parseClientFirst(_ message: [UInt8]) throws(SASLError) -> (ClientFirst, String, String?) {
        try SCRAMSyntax.checkMessage(message, name: "client-first-message")
        let fields = SCRAMSyntax.fields(message)
        guard fields.count >= 4 else { throw .malformed("client-first-message: missing attributes") }

        let flag = fields[0]
        if flag.starts(with: "p=".utf8) {
            throw .malformed("channel binding (p=) requested, but SCRAM-*-PLUS is not offered")
        }
        guard flag.elementsEqual("n".utf8) || flag.elementsEqual("y".utf8) else {
            throw .malformed("client-first-message: invalid gs2 channel binding flag")
        }
        var authzid: String?
        if !fields[1].isEmpty {
            let value = try SCRAMSyntax.value(of: "a", in: fields[1], message: "gs2 header")
            authzid = try SCRAMSyntax.unescapeSaslname(value, what: "authorization identity")
        }
        let gs2Length = fields[0].count + fields[1].count + 2
        let gs2Header = Array(message[..<gs2Length])
        let bare = Array(message[gs2Length...])

        if SCRAMSyntax.attribute(fields[2])?.name == UInt8(ascii: "m") {
            throw .malformed("mandatory SCRAM extensions (m=) are not supported")
        }
        let username = try SCRAMSyntax.unescapeSaslname(
            SCRAMSyntax.value(of: "n", in: fields[2], message: "client-first-message"))
        let nonce = try SCRAMSyntax.value(of: "r", in: fields[3], message: "client-first-message")
        guard SASLBytes.isValidNonce(nonce) else { throw .malformed("client nonce contains invalid characters") }
        try SCRAMSyntax.checkExtensions(fields[4...], message: "client-first-message")
        return (ClientFirst(gs2Header: gs2Header, bare: bare, nonce: Array(nonce)), username, authzid)
    }

    // MARK: - server-first

    /// Produces server-first-message (`r=<client nonce><server nonce>,s=<salt>,i=<iterations>`).
    ///
    /// Pass the user's credentials, or `decoyCredentials(for:algorithm:)` when there is no such
    /// user, so that both cases look the same on the wire and fail in the same place.
    /// `serverNonce` is for tests (RFC vectors); `nil` draws 144 random bits. A supplied nonce must be
    /// printable ASCII without ',' (RFC 5802 §7); anything else is a programming error and traps.
    ///
    /// Credentials of another algorithm than the exchange's are replaced by decoy credentials, so the
    /// exchange proceeds and ends in not-authorized instead of trapping or leaking that the account
    /// exists with another mechanism. Called out of order (not right after a successful
    /// `receiveClientFirst`), it fails the exchange and returns an empty message rather than trapping:
    /// a trap would take down every connection of the node for one mis-sequenced session.
    public mutating func serverFirst(credentials: SCRAMCredentials, serverNonce: String? = nil) -> [UInt8] {
        guard case .awaitingCredentials(let first) = state else {
            state = .failed
            return []
        }
        let serverPart = Array((serverNonce ?? SASLBytes.randomNonce()).utf8)
        precondition(SASLBytes.isValidNonce(serverPart), "server nonce must be printable ASCII without ','")
        let credentials = credentials.algorithm == algorithm
            ? credentials
            : Self.decoyCredentials(for: username ?? "", algorithm: algorithm, iterations: credentials.iterations)
        let combinedNonce = first.nonce + serverPart
        var message = Array("r=".utf8) + combinedNonce
        message += Array(",s=".utf8) + Array(SASLBase64.encode(credentials.salt).utf8)
        message += Array(",i=\(credentials.iterations)".utf8)
        state = .awaitingClientFinal(first, serverFirst: message, combinedNonce: combinedNonce, credentials: credentials)
        return message
    }

    // MARK: - client-final

    /// Verifies client-final-message and returns server-final-message (`v=<ServerSignature>`), to be
    /// sent as the additional data of `<success>`.
    ///
    /// Checks, in order: syntax (malformed-request), `c=` equals base64 of the gs2 header from
    /// client-first (not-authorized: a mismatch means the header was tampered with), `r=` equals the
    /// combined nonce (not-authorized), and the proof: `ClientKey = ClientProof XOR
    /// HMAC(StoredKey, AuthMessage)` must hash to StoredKey, compared in constant time (not-authorized).
    public mutating func receiveClientFinal(_ message: [UInt8]) throws(SASLError) -> [UInt8] {
        guard case .awaitingClientFinal(let first, let serverFirst, let combinedNonce, let credentials) = state else {
            state = .failed
            throw .malformed("unexpected client-final-message")
        }
        do {
            let serverFinal = try Self.verifyClientFinal(
                message, first: first, serverFirst: serverFirst, combinedNonce: combinedNonce,
                credentials: credentials)
            state = .succeeded
            return serverFinal
        } catch {
            state = .failed
            throw error
        }
    }

    private static func verifyClientFinal(
        _ message: [UInt8], first: ClientFirst, serverFirst: [UInt8], combinedNonce: [UInt8],
        credentials: SCRAMCredentials
    ) throws(SASLError) -> [UInt8] {
        try SCRAMSyntax.checkMessage(message, name: "client-final-message")
        let fields = SCRAMSyntax.fields(message)
        guard fields.count >= 3 else { throw .malformed("client-final-message: missing attributes") }
        let channelBinding = try SCRAMSyntax.value(of: "c", in: fields[0], message: "client-final-message")
        let nonce = try SCRAMSyntax.value(of: "r", in: fields[1], message: "client-final-message")
        let proofField = fields[fields.count - 1]
        let proofValue = try SCRAMSyntax.value(of: "p", in: proofField, message: "client-final-message (proof must be last)")
        try SCRAMSyntax.checkExtensions(fields[2..<(fields.count - 1)], message: "client-final-message")

        let bindingData = try SCRAMSyntax.base64(channelBinding, what: "channel binding (c=)")
        let proof = try SCRAMSyntax.base64(proofValue, what: "client proof (p=)")
        guard proof.count == credentials.algorithm.digestByteCount else {
            throw .malformed("client proof has the wrong length")
        }
        guard bindingData == first.gs2Header else {
            throw .notAuthorized("channel binding data (c=) does not match the gs2 header")
        }
        guard nonce.elementsEqual(combinedNonce) else { throw .notAuthorized("nonce mismatch") }

        // client-final-message-without-proof: everything before ",p=".
        let withoutProof = message[..<(proofField.startIndex - 1)]
        let authMessage = first.bare + [SCRAMSyntax.comma] + serverFirst + [SCRAMSyntax.comma] + withoutProof
        let algorithm = credentials.algorithm
        let clientSignature = algorithm.hmac(key: credentials.storedKey, data: authMessage)
        let clientKey = SASLBytes.xor(proof, clientSignature)
        guard SASLBytes.constantTimeEqual(algorithm.hash(clientKey), credentials.storedKey) else {
            throw .notAuthorized("authentication failed")
        }
        let serverSignature = algorithm.hmac(key: credentials.serverKey, data: authMessage)
        return Array("v=".utf8) + Array(SASLBase64.encode(serverSignature).utf8)
    }
}
