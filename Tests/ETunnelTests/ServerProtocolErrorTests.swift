@testable import ETunnel
import NIOCore
import Testing
import TestSupport

extension Integration {
    /// A raw TCP client misbehaves against a real in-process server: each time the server answers
    /// with one ERROR frame (correlation id 0) carrying the right code, hangs up within 2 s, and keeps
    /// serving well-behaved clients.
    @Suite("Server protocol errors over a socket")
    struct ServerProtocolErrorTests {
        enum Misbehaviour: String, CaseIterable, Sendable, CustomTestStringConvertible {
            case garbage1, garbage2, garbage3
            case oversizedLength
            case unknownKind
            case badVersion
            case nonZeroFlags
            case requestBeforeHandshake
            case shortLength

            var testDescription: String { rawValue }

            /// The bytes to send and the code the server must answer with.
            func bytesAndExpectedCode(maxFrameSize: Int) -> ([UInt8], ETunnelError.Code) {
                switch self {
                case .garbage1, .garbage2, .garbage3:
                    // Seeded garbage; the expected code is whatever the decoder itself says about it.
                    var rng = SplitMix64(seed: 7919 * UInt64(Self.allCases.firstIndex(of: self)! + 1))
                    while true {
                        let bytes = rng.bytes(Int.random(in: 8...300, using: &rng))
                        var buffer = ByteBuffer(bytes: bytes)
                        do throws(ETunnelError) {
                            if try buffer.readETunnelFrame(maxFrameSize: maxFrameSize) == nil { continue }
                        } catch {
                            return (bytes, error.code)
                        }
                    }
                case .oversizedLength:
                    // Only the four length bytes: the server must not wait for the rest.
                    return ([0x7F, 0xFF, 0xFF, 0xFF], .frameTooLarge)
                case .unknownKind:
                    var buffer = ByteBuffer()
                    buffer.writeETunnelFrame(kind: .hello, payload: ByteBuffer(bytes: [1, 2, 3]))
                    buffer.setInteger(UInt8(12), at: 5)
                    return (Array(buffer.readableBytesView), .unknownFrameKind)
                case .badVersion:
                    var buffer = ByteBuffer()
                    buffer.writeETunnelFrame(kind: .hello, payload: ByteBuffer())
                    buffer.setInteger(UInt8(2), at: 4)
                    return (Array(buffer.readableBytesView), .unsupportedVersion)
                case .nonZeroFlags:
                    var buffer = ByteBuffer()
                    buffer.writeETunnelFrame(kind: .hello, flags: 1, payload: ByteBuffer())
                    return (Array(buffer.readableBytesView), .protocolViolation)
                case .requestBeforeHandshake:
                    var buffer = ByteBuffer()
                    buffer.writeETunnelFrame(kind: .request, correlationID: 1, method: BenchMethods.echo.rawValue, payload: ByteBuffer())
                    return (Array(buffer.readableBytesView), .protocolViolation)
                case .shortLength:
                    return ([0, 0, 0, 3], .protocolViolation)
                }
            }
        }

        /// Reads the server's answer: one ERROR frame with correlation id 0, then the connection
        /// closes within `closeWithin` seconds of `start`. Returns the decoded error.
        static func expectErrorAndClose(
            _ raw: RawTCPClient, since start: ContinuousClock.Instant, closeWithin: Double = 2,
            sourceLocation: SourceLocation = #_sourceLocation
        ) async throws -> WireError {
            let frame = try #require(try await raw.nextFrame(seconds: closeWithin), "the server closed without an ERROR frame", sourceLocation: sourceLocation)
            #expect(frame.kind == .error, "got \(frame.kind)", sourceLocation: sourceLocation)
            #expect(frame.correlationID == 0, sourceLocation: sourceLocation)
            let error = try #require(WireError(payload: frame.payload), "undecodable error payload \(Array(frame.payload.readableBytesView))", sourceLocation: sourceLocation)
            #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
            let closed = await raw.waitForClose(seconds: max(0.05, closeWithin - secondsSince(start)))
            #expect(closed, "the server kept the connection open for over \(closeWithin) s", sourceLocation: sourceLocation)
            #expect(raw.unreadBytes.isEmpty, "nothing after the ERROR frame", sourceLocation: sourceLocation)
            return error
        }

        /// A well-behaved client can still call the server.
        static func expectServerStillServes(_ server: ETunnelServer, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let client = ETunnelClient(configuration: makeConfiguration(name: "good-client"))
            defer { client.close() }
            let peer = client.peer(ETunnelEndpoint(host: "127.0.0.1", port: server.port))
            let answer = try await withTimeout(seconds: 5, "an echo from the server after the bad client") {
                try await peer.call(BenchMethods.echo, payload(4242), timeout: .seconds(3))
            }
            #expect(value(of: answer) == 4242, sourceLocation: sourceLocation)
            // Counted while it is open (the deferred close would race a later check).
            #expect(server.connectionCount >= 1, "the good client's connection is counted", sourceLocation: sourceLocation)
        }

        @Test("bad bytes get an ERROR frame with the right code, then a close", arguments: Misbehaviour.allCases)
        func badBytes(_ misbehaviour: Misbehaviour) async throws {
            try await withServer(methods: echoMethods()) { server async throws in
                let (bytes, expected) = misbehaviour.bytesAndExpectedCode(maxFrameSize: 1 << 20)
                let raw = try await RawTCPClient.connect(port: server.port)
                let start = ContinuousClock().now
                await raw.send(bytes)
                let error = try await Self.expectErrorAndClose(raw, since: start)
                #expect(error.code == expected.rawValue, "expected \(expected), got \(error)")
                await raw.close()
                #expect(server.connectionCount == 0)
                try await Self.expectServerStillServes(server)
            }
        }

        @Test("a valid HELLO followed by an AUTH proved with the wrong secret is refused")
        func wrongSecretAuth() async throws {
            try await withServer(methods: echoMethods()) { server async throws in
                let raw = try await RawTCPClient.connect(port: server.port)
                let clientNonce = HandshakeStateMachine.randomNonce()
                let wrong = Array("wrong-secret".utf8)
                let hello = try HandshakeStateMachineTests.hello(name: "intruder", secret: wrong, nonce: clientNonce)
                var out = ByteBuffer()
                out.writeETunnelFrame(hello)
                await raw.send(out)

                let challenge = try #require(try await raw.nextFrame(seconds: 2), "no CHALLENGE")
                #expect(challenge.kind == .challenge)
                #expect(try Handshake.Challenge.decode(challenge.payload).nodeName == "test-server")

                let auth = try HandshakeStateMachineTests.authProved(with: wrong, clientName: "intruder", clientNonce: clientNonce, challenge: challenge)
                out = ByteBuffer()
                out.writeETunnelFrame(auth)
                let start = ContinuousClock().now
                await raw.send(out)
                let error = try await Self.expectErrorAndClose(raw, since: start)
                #expect(error.code == ETunnelError.Code.authenticationFailed.rawValue, "got \(error)")
                #expect(error.message.contains("cluster secret"), "message: \(error.message)")
                await raw.close()
                #expect(server.connectionCount == 0, "an unauthenticated connection is never counted")
                try await Self.expectServerStillServes(server)
            }
        }

        @Test("a client that connects and says nothing is closed by the handshake timeout")
        func silentClient() async throws {
            try await withServer(methods: echoMethods(), { $0.handshakeTimeout = .milliseconds(300) }) { server async throws in
                let start = ContinuousClock().now
                let raw = try await RawTCPClient.connect(port: server.port)
                let error = try await Self.expectErrorAndClose(raw, since: start, closeWithin: 2)
                let elapsed = secondsSince(start)
                #expect(error.code == ETunnelError.Code.handshakeTimeout.rawValue, "got \(error)")
                #expect(elapsed >= 0.25, "closed after \(elapsed) s, before the 300 ms timeout")
                await raw.close()
                try await Self.expectServerStillServes(server)
            }
        }

        @Test("a client that stops after HELLO is closed by the handshake timeout")
        func stalledAfterHello() async throws {
            try await withServer(methods: echoMethods(), { $0.handshakeTimeout = .milliseconds(300) }) { server async throws in
                let raw = try await RawTCPClient.connect(port: server.port)
                let start = ContinuousClock().now
                var out = ByteBuffer()
                out.writeETunnelFrame(try HandshakeStateMachineTests.hello(nonce: HandshakeStateMachine.randomNonce()))
                await raw.send(out)
                #expect(try await raw.nextFrame(seconds: 2)?.kind == .challenge)
                let error = try await Self.expectErrorAndClose(raw, since: start)
                #expect(error.code == ETunnelError.Code.handshakeTimeout.rawValue, "got \(error)")
                await raw.close()
            }
        }
    }
}
