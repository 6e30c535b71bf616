import Crypto
import NIOCore

/// The authenticated eTunnel handshake, without I/O.
///
///     client                                   server
///     HELLO(versions, nonceC, windowC, nameC) →
///                 ← CHALLENGE(nonceS, proofS, windowS, nameS)   proofS = HMAC(secret, "server"|nonceC|nonceS|nameS|nameC|windowC|windowS)
///     AUTH(proofC) →                                            proofC = HMAC(secret, "client"|nonceS|nonceC|nameC|nameS|windowC|windowS)
///                 ← READY
///
/// Each side proves the cluster secret over the other side's fresh nonce, so a non-member fails
/// and a recorded AUTH or CHALLENGE replayed on a new connection fails too.
struct HandshakeStateMachine {
    enum Role { case client, server }

    enum State {
        case idle
        case clientAwaitingChallenge(clientNonce: [UInt8])
        case clientAwaitingReady(peerName: String, peerWindow: UInt32)
        case serverAwaitingHello
        case serverAwaitingAuth(clientNonce: [UInt8], serverNonce: [UInt8], peerName: String, peerWindow: UInt32)
        case established(peerName: String, peerWindow: UInt32)
        case failed
    }

    enum Action: Equatable {
        /// Send this frame and keep waiting.
        case send(FrameKind, ByteBuffer)
        /// Send this frame (if any), then the connection is open.
        case establish(peerName: String, peerWindow: UInt32, thenSend: (FrameKind, ByteBuffer)?)
        /// Send an error frame with this error, then close.
        case fail(ETunnelError)

        static func == (lhs: Action, rhs: Action) -> Bool {
            switch (lhs, rhs) {
            case let (.send(a, b), .send(c, d)): a == c && b == d
            case let (.establish(a, b, c), .establish(d, e, f)): a == d && b == e && c?.0 == f?.0 && c?.1 == f?.1
            case let (.fail(a), .fail(b)): a == b
            default: false
            }
        }
    }

    let role: Role
    let localName: String
    let receiveWindow: UInt32
    private let key: SymmetricKey
    private(set) var state: State

    init(role: Role, localName: String, secret: [UInt8], receiveWindow: UInt32) {
        self.role = role
        self.localName = localName
        self.receiveWindow = receiveWindow
        self.key = SymmetricKey(data: secret)
        self.state = role == .client ? .idle : .serverAwaitingHello
    }

    var isEstablished: Bool {
        if case .established = state { return true }
        return false
    }

    /// Client only: the first frame.
    mutating func start(nonce: [UInt8]) -> Action {
        precondition(role == .client, "only the client starts the handshake")
        guard case .idle = state else { preconditionFailure("handshake started twice in state \(state)") }
        state = .clientAwaitingChallenge(clientNonce: nonce)
        let hello = Handshake.Hello(
            minVersion: Frame.version, maxVersion: Frame.version, nonce: nonce,
            receiveWindow: receiveWindow, nodeName: localName)
        guard let payload = try? hello.encoded() else { return failed("this node's name does not fit a HELLO") }
        return .send(.hello, payload)
    }

    /// Feeds one received frame; `nonce` supplies fresh randomness when the server needs it.
    mutating func receive(_ frame: Frame, nonce: () -> [UInt8]) -> Action {
        switch (state, frame.kind) {
        case (.serverAwaitingHello, .hello):
            guard let hello = decode(Handshake.Hello.self, frame.payload) else { return failed("malformed HELLO") }
            guard hello.minVersion <= Frame.version, Frame.version <= hello.maxVersion else {
                return fail(.unsupportedVersion, "peer offers versions \(hello.minVersion)...\(hello.maxVersion); this node speaks \(Frame.version)")
            }
            let serverNonce = nonce()
            let proof = Self.proof(key: key, label: "server", hello.nonce, serverNonce, localName, hello.nodeName, windows: (hello.receiveWindow, receiveWindow))
            state = .serverAwaitingAuth(clientNonce: hello.nonce, serverNonce: serverNonce, peerName: hello.nodeName, peerWindow: hello.receiveWindow)
            let challenge = Handshake.Challenge(nonce: serverNonce, proof: proof, receiveWindow: receiveWindow, nodeName: localName)
            guard let payload = try? challenge.encoded() else { return failed("this node's name does not fit a CHALLENGE") }
            return .send(.challenge, payload)

        case let (.clientAwaitingChallenge(clientNonce), .challenge):
            guard let challenge = decode(Handshake.Challenge.self, frame.payload) else { return failed("malformed CHALLENGE") }
            let expected = Self.proof(key: key, label: "server", clientNonce, challenge.nonce, challenge.nodeName, localName, windows: (receiveWindow, challenge.receiveWindow))
            guard Self.constantTimeEqual(expected, challenge.proof) else {
                return fail(.authenticationFailed, "server \(challenge.nodeName) could not prove the cluster secret")
            }
            let proof = Self.proof(key: key, label: "client", challenge.nonce, clientNonce, localName, challenge.nodeName, windows: (receiveWindow, challenge.receiveWindow))
            state = .clientAwaitingReady(peerName: challenge.nodeName, peerWindow: challenge.receiveWindow)
            return .send(.auth, Handshake.Auth(proof: proof).encoded())

        case let (.serverAwaitingAuth(clientNonce, serverNonce, peerName, peerWindow), .auth):
            guard let auth = decode(Handshake.Auth.self, frame.payload) else { return failed("malformed AUTH") }
            let expected = Self.proof(key: key, label: "client", serverNonce, clientNonce, peerName, localName, windows: (peerWindow, receiveWindow))
            guard Self.constantTimeEqual(expected, auth.proof) else {
                return fail(.authenticationFailed, "handshake refused: \(peerName) did not prove the cluster secret")
            }
            state = .established(peerName: peerName, peerWindow: peerWindow)
            return .establish(peerName: peerName, peerWindow: peerWindow, thenSend: (.ready, ByteBuffer()))

        case let (.clientAwaitingReady(peerName, peerWindow), .ready):
            state = .established(peerName: peerName, peerWindow: peerWindow)
            return .establish(peerName: peerName, peerWindow: peerWindow, thenSend: nil)

        case (_, .error):
            let error = (try? ErrorPayload.decode(frame.payload).error) ?? ETunnelError(.protocolViolation, "malformed error frame during handshake")
            state = .failed
            return .fail(error)

        default:
            return fail(.protocolViolation, "unexpected \(frame.kind) frame during the handshake")
        }
    }

    private mutating func fail(_ code: ETunnelError.Code, _ message: String) -> Action {
        state = .failed
        return .fail(ETunnelError(code, message))
    }

    private mutating func failed(_ what: String) -> Action {
        fail(.protocolViolation, what)
    }

    private func decode<M: ETunnelMessage>(_ type: M.Type, _ payload: ByteBuffer) -> M? {
        try? M.decode(payload)
    }

    /// `windows` is (client's window, server's window): binding them stops a man in the middle
    /// from shrinking or inflating the credit either side grants.
    static func proof(key: SymmetricKey, label: String, _ first: [UInt8], _ second: [UInt8], _ name1: String, _ name2: String, windows: (UInt32, UInt32)) -> [UInt8] {
        var hmac = HMAC<SHA256>(key: key)
        hmac.update(data: Array("mmgs-etunnel-v1 \(label)".utf8))
        hmac.update(data: first)
        hmac.update(data: second)
        // Length-prefix the names so "ab"+"c" and "a"+"bc" differ.
        for name in [name1, name2] {
            let bytes = Array(name.utf8)
            hmac.update(data: [UInt8(truncatingIfNeeded: bytes.count >> 8), UInt8(truncatingIfNeeded: bytes.count)])
            hmac.update(data: bytes)
        }
        for window in [windows.0, windows.1] {
            hmac.update(data: [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: window >> $0) })
        }
        return Array(hmac.finalize())
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    static func randomNonce() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<Handshake.nonceSize).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }
}
