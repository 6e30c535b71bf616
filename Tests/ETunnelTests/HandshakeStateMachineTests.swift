@testable import ETunnel
import NIOCore
import Testing
import TestSupport

/// The handshake without sockets: two state machines exchanging frames.
@Suite("Handshake state machine")
struct HandshakeStateMachineTests {
    static let secret = Array("the-cluster-secret".utf8)
    static let wrongSecret = Array("not-the-cluster-secret".utf8)

    typealias Machine = HandshakeStateMachine

    static func client(name: String = "alpha", secret: [UInt8] = secret, window: UInt32 = 100) -> Machine {
        Machine(role: .client, localName: name, secret: secret, receiveWindow: window)
    }

    static func server(name: String = "beta", secret: [UInt8] = secret, window: UInt32 = 200) -> Machine {
        Machine(role: .server, localName: name, secret: secret, receiveWindow: window)
    }

    static func nonce(_ seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        return rng.bytes(32)
    }

    /// The frame an action sends (`.send` or `.establish(thenSend:)`).
    static func sent(_ action: Machine.Action, sourceLocation: SourceLocation = #_sourceLocation) throws -> Frame {
        switch action {
        case .send(let kind, let payload):
            return Frame(kind: kind, payload: payload)
        case .establish(_, _, let thenSend?):
            return Frame(kind: thenSend.0, payload: thenSend.1)
        default:
            Issue.record("expected a frame to send, got \(action)", sourceLocation: sourceLocation)
            throw ETunnelError(.protocolViolation, "no frame")
        }
    }

    /// A HELLO from a fresh client machine.
    static func hello(name: String = "alpha", secret: [UInt8] = secret, nonce: [UInt8]) throws -> Frame {
        var client = Self.client(name: name, secret: secret)
        return try sent(client.start(nonce: nonce))
    }

    static func failure(_ action: Machine.Action) -> ETunnelError? {
        if case .fail(let error) = action { return error }
        return nil
    }

    static func isFailed(_ machine: Machine) -> Bool {
        if case .failed = machine.state { return true }
        return false
    }

    /// A full handshake; returns the four frames (HELLO, CHALLENGE, AUTH, READY).
    @discardableResult
    static func handshake(_ client: inout Machine, _ server: inout Machine, clientNonce: [UInt8], serverNonce: [UInt8]) throws -> [Frame] {
        let hello = try sent(client.start(nonce: clientNonce))
        let challenge = try sent(server.receive(hello, nonce: { serverNonce }))
        let auth = try sent(client.receive(challenge, nonce: { Issue.record("the client needs no nonce here"); return [] }))
        let serverDone = server.receive(auth, nonce: { [] })
        let ready = try sent(serverDone)
        let clientDone = client.receive(ready, nonce: { [] })
        #expect(serverDone == .establish(peerName: client.localName, peerWindow: client.receiveWindow, thenSend: (.ready, ByteBuffer())))
        #expect(clientDone == .establish(peerName: server.localName, peerWindow: server.receiveWindow, thenSend: nil))
        return [hello, challenge, auth, ready]
    }

    /// An AUTH computed with `secret` for the exchange that `hello` started and `challenge`
    /// answered: what a node holding the wrong secret would send. The wrong-secret client would
    /// refuse the real CHALLENGE, so it is shown a CHALLENGE made with its own secret over the
    /// real server's nonce and name.
    static func authProved(with secret: [UInt8], clientName: String, clientNonce: [UInt8], challenge: Frame) throws -> Frame {
        let real = try Handshake.Challenge.decode(challenge.payload)
        var client = Machine(role: .client, localName: clientName, secret: secret, receiveWindow: 100)
        var mirror = Machine(role: .server, localName: real.nodeName, secret: secret, receiveWindow: real.receiveWindow)
        let hello = try sent(client.start(nonce: clientNonce))
        let fakeChallenge = try sent(mirror.receive(hello, nonce: { real.nonce }))
        return try sent(client.receive(fakeChallenge, nonce: { [] }))
    }

    // MARK: Happy path

    @Test("client and server complete the handshake and learn each other's name and window")
    func happyPath() throws {
        var client = Self.client()
        var server = Self.server()
        #expect(!client.isEstablished && !server.isEstablished)
        let frames = try Self.handshake(&client, &server, clientNonce: Self.nonce(1), serverNonce: Self.nonce(2))
        #expect(frames.map(\.kind) == [.hello, .challenge, .auth, .ready])
        #expect(client.isEstablished && server.isEstablished)
        guard case .established(let serverSeen, let serverWindow) = server.state,
              case .established(let clientSeen, let clientWindow) = client.state else {
            Issue.record("not established: \(client.state) / \(server.state)")
            return
        }
        #expect(serverSeen == "alpha" && serverWindow == 100)
        #expect(clientSeen == "beta" && clientWindow == 200)

        let hello = try Handshake.Hello.decode(frames[0].payload)
        #expect(hello == Handshake.Hello(minVersion: 1, maxVersion: 1, nonce: Self.nonce(1), receiveWindow: 100, nodeName: "alpha"))
        let challenge = try Handshake.Challenge.decode(frames[1].payload)
        #expect(challenge.nonce == Self.nonce(2))
        #expect(challenge.proof.count == 32)
        #expect(frames[3].payload.readableBytes == 0)
    }

    @Test("real random nonces, many times, with unicode names")
    func manyHandshakes() throws {
        for i in 0..<50 {
            var client = Self.client(name: "клиент-\(i)-🚀")
            var server = Self.server(name: "サーバ-\(i)")
            try Self.handshake(&client, &server, clientNonce: Machine.randomNonce(), serverNonce: Machine.randomNonce())
            #expect(client.isEstablished && server.isEstablished)
        }
    }

    // MARK: Authentication

    @Test("a client with the wrong secret: the server fails with authenticationFailed")
    func wrongSecretServerRefuses() throws {
        var server = Self.server()
        let clientNonce = Self.nonce(10)
        let hello = try Self.hello(secret: Self.wrongSecret, nonce: clientNonce)
        let challenge = try Self.sent(server.receive(hello, nonce: { Self.nonce(11) }))
        let auth = try Self.authProved(with: Self.wrongSecret, clientName: "alpha", clientNonce: clientNonce, challenge: challenge)
        #expect(auth.kind == .auth)
        let action = server.receive(auth, nonce: { [] })
        let error = try #require(Self.failure(action), "got \(action)")
        #expect(error.code == .authenticationFailed)
        #expect(error.message.contains("alpha"))
        #expect(!server.isEstablished && Self.isFailed(server))
    }

    @Test("a client with the wrong secret refuses the real server's CHALLENGE too")
    func wrongSecretClientRefuses() throws {
        var client = Self.client(secret: Self.wrongSecret)
        var server = Self.server()
        let hello = try Self.sent(client.start(nonce: Self.nonce(20)))
        let challenge = try Self.sent(server.receive(hello, nonce: { Self.nonce(21) }))
        let action = client.receive(challenge, nonce: { [] })
        #expect(Self.failure(action)?.code == .authenticationFailed)
        #expect(Self.isFailed(client))
    }

    /// Byte ranges of the CHALLENGE payload: nonce 0..<32, proof 32..<64, window 64..<68, name
    /// length 68..<70, name 70... (The window is not covered by the proof, so it is not here.)
    @Test("a tampered CHALLENGE (nonce, proof or name) is refused by the client", arguments: [0, 31, 32, 50, 63, 70, 73])
    func tamperedChallenge(byte: Int) throws {
        var client = Self.client()
        var server = Self.server()
        let hello = try Self.sent(client.start(nonce: Self.nonce(30)))
        var challenge = try Self.sent(server.receive(hello, nonce: { Self.nonce(31) }))
        var bytes = Array(challenge.payload.readableBytesView)
        bytes[byte] ^= 0x01
        challenge.payload = ByteBuffer(bytes: bytes)
        let action = client.receive(challenge, nonce: { [] })
        let error = try #require(Self.failure(action), "got \(action)")
        #expect(error.code == .authenticationFailed, "tampering byte \(byte)")
        #expect(!client.isEstablished)
    }

    @Test("a tampered AUTH proof is refused by the server")
    func tamperedAuth() throws {
        var client = Self.client()
        var server = Self.server()
        let hello = try Self.sent(client.start(nonce: Self.nonce(40)))
        let challenge = try Self.sent(server.receive(hello, nonce: { Self.nonce(41) }))
        var auth = try Self.sent(client.receive(challenge, nonce: { [] }))
        var bytes = Array(auth.payload.readableBytesView)
        bytes[17] ^= 0x80
        auth.payload = ByteBuffer(bytes: bytes)
        #expect(Self.failure(server.receive(auth, nonce: { [] }))?.code == .authenticationFailed)
    }

    @Test("replay: a recorded AUTH is refused by a new server, after a new or the recorded HELLO")
    func replayedAuthIsRefused() throws {
        var client = Self.client()
        var server = Self.server()
        let recorded = try Self.handshake(&client, &server, clientNonce: Machine.randomNonce(), serverNonce: Machine.randomNonce())
        let (recordedHello, recordedAuth) = (recorded[0], recorded[2])

        // The attacker replays the whole client side: the recorded HELLO, then the recorded AUTH.
        var victim = Self.server()
        _ = try Self.sent(victim.receive(recordedHello, nonce: Machine.randomNonce))
        let replayed = victim.receive(recordedAuth, nonce: { [] })
        #expect(Self.failure(replayed)?.code == .authenticationFailed, "got \(replayed)")
        #expect(!victim.isEstablished)

        // A new HELLO (new client nonce), then the recorded AUTH.
        var victim2 = Self.server()
        let newHello = try Self.hello(nonce: Machine.randomNonce())
        _ = try Self.sent(victim2.receive(newHello, nonce: Machine.randomNonce))
        #expect(Self.failure(victim2.receive(recordedAuth, nonce: { [] }))?.code == .authenticationFailed)
    }

    @Test("replay: a recorded CHALLENGE is refused by a client that sent a new nonce")
    func replayedChallengeIsRefused() throws {
        var client = Self.client()
        var server = Self.server()
        let recorded = try Self.handshake(&client, &server, clientNonce: Machine.randomNonce(), serverNonce: Machine.randomNonce())
        var victim = Self.client()
        _ = try Self.sent(victim.start(nonce: Machine.randomNonce()))
        #expect(Self.failure(victim.receive(recorded[1], nonce: { [] }))?.code == .authenticationFailed)
    }

    @Test("names are bound by the proofs: a CHALLENGE made for another client name is refused")
    func proofsBindNames() throws {
        let clientNonce = Self.nonce(50)
        var server = Self.server()
        // The server believes it talks to "mallory"; the real client is "alpha".
        let helloAsMallory = try Self.hello(name: "mallory", nonce: clientNonce)
        let challenge = try Self.sent(server.receive(helloAsMallory, nonce: { Self.nonce(51) }))
        var alpha = Self.client(name: "alpha")
        _ = try Self.sent(alpha.start(nonce: clientNonce))
        #expect(Self.failure(alpha.receive(challenge, nonce: { [] }))?.code == .authenticationFailed)
    }

    // MARK: Protocol violations

    @Test("unexpected frames before HELLO are protocol violations",
          arguments: [FrameKind.challenge, .auth, .ready, .request, .response, .oneWay, .heartbeat, .credit, .cancel])
    func serverUnexpectedFirstFrame(kind: FrameKind) {
        var server = Self.server()
        let action = server.receive(Frame(kind: kind), nonce: { Self.nonce(60) })
        #expect(Self.failure(action)?.code == .protocolViolation, "got \(action)")
        #expect(Self.isFailed(server))
        // A failed machine stays failed.
        #expect(Self.failure(server.receive(Frame(kind: .hello), nonce: { [] }))?.code == .protocolViolation)
    }

    @Test("unexpected frames at each later step are protocol violations")
    func unexpectedLaterFrames() throws {
        // Client awaiting CHALLENGE.
        for kind in [FrameKind.hello, .auth, .ready, .request, .heartbeat] {
            var client = Self.client()
            _ = try Self.sent(client.start(nonce: Self.nonce(70)))
            #expect(Self.failure(client.receive(Frame(kind: kind), nonce: { [] }))?.code == .protocolViolation, "client got \(kind)")
        }
        // Server awaiting AUTH.
        for kind in [FrameKind.hello, .challenge, .ready, .request] {
            var client = Self.client()
            var server = Self.server()
            let hello = try Self.sent(client.start(nonce: Self.nonce(71)))
            _ = try Self.sent(server.receive(hello, nonce: { Self.nonce(72) }))
            #expect(Self.failure(server.receive(Frame(kind: kind), nonce: { [] }))?.code == .protocolViolation, "server got \(kind)")
        }
        // Client awaiting READY.
        for kind in [FrameKind.challenge, .auth, .hello, .response] {
            var client = Self.client()
            var server = Self.server()
            let hello = try Self.sent(client.start(nonce: Self.nonce(73)))
            let challenge = try Self.sent(server.receive(hello, nonce: { Self.nonce(74) }))
            _ = try Self.sent(client.receive(challenge, nonce: { [] }))
            #expect(Self.failure(client.receive(Frame(kind: kind), nonce: { [] }))?.code == .protocolViolation, "client got \(kind)")
        }
    }

    @Test("malformed handshake payloads are protocol violations")
    func malformedPayloads() throws {
        var server = Self.server()
        var truncatedHello = try Self.hello(nonce: Self.nonce(80))
        truncatedHello.payload = truncatedHello.payload.getSlice(at: 0, length: 20)!
        #expect(Self.failure(server.receive(truncatedHello, nonce: { [] }))?.code == .protocolViolation)

        var client = Self.client()
        _ = try Self.sent(client.start(nonce: Self.nonce(81)))
        #expect(Self.failure(client.receive(Frame(kind: .challenge, payload: ByteBuffer(bytes: [1, 2, 3])), nonce: { [] }))?.code == .protocolViolation)

        var server2 = Self.server()
        let hello = try Self.hello(nonce: Self.nonce(82))
        _ = try Self.sent(server2.receive(hello, nonce: { Self.nonce(83) }))
        #expect(Self.failure(server2.receive(Frame(kind: .auth, payload: ByteBuffer(bytes: [0, 1])), nonce: { [] }))?.code == .protocolViolation)
    }

    @Test("a HELLO without version 1 in its range is unsupportedVersion",
          arguments: [(UInt8(2), UInt8(3)), (0, 0), (2, 1), (255, 255)])
    func versionMismatch(range: (UInt8, UInt8)) throws {
        var server = Self.server()
        let hello = Handshake.Hello(minVersion: range.0, maxVersion: range.1, nonce: Self.nonce(90), receiveWindow: 10, nodeName: "future")
        let action = server.receive(Frame(kind: .hello, payload: try hello.encoded()), nonce: { Self.nonce(91) })
        #expect(Self.failure(action)?.code == .unsupportedVersion, "range \(range): \(action)")
        #expect(Self.isFailed(server))
    }

    @Test("a HELLO offering 0...5 (including 1) is accepted")
    func versionRangeIncludingOne() throws {
        var server = Self.server()
        let hello = Handshake.Hello(minVersion: 0, maxVersion: 5, nonce: Self.nonce(92), receiveWindow: 10, nodeName: "wide")
        #expect(try Self.sent(server.receive(Frame(kind: .hello, payload: hello.encoded()), nonce: { Self.nonce(93) })).kind == .challenge)
    }

    @Test("an ERROR frame during the handshake fails with the peer's error")
    func errorFrameDuringHandshake() throws {
        var client = Self.client()
        _ = try Self.sent(client.start(nonce: Self.nonce(100)))
        let error = ETunnelError(.authenticationFailed, "go away")
        let action = client.receive(Frame(kind: .error, payload: ErrorPayload(error).encoded()), nonce: { [] })
        #expect(action == .fail(error))
        #expect(Self.isFailed(client))

        var server = Self.server()
        let garbled = server.receive(Frame(kind: .error, payload: ByteBuffer(bytes: [0])), nonce: { [] })
        #expect(Self.failure(garbled)?.code == .protocolViolation)
    }
}
