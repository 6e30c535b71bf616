@testable import ETunnel
import Foundation
import NIOCore
import Testing
import TestSupport

extension Integration {
    /// Error frames carry a message capped "so an error frame can never be oversized". The cap is
    /// `String(message.prefix(1024))`: 1024 *Characters*. A Character (grapheme cluster) can be any
    /// number of bytes ("a" followed by thousands of combining marks is one Character), so the capped
    /// message can still exceed the u16 length of `writeShortString`, whose precondition then kills
    /// the process. Peer node names (up to 65,535 bytes from the HELLO) go into handshake error
    /// messages, so an unauthenticated client can crash a node.
    @Suite("Error message limits")
    struct ErrorMessageLimitTests {
        /// One grapheme cluster of 65,535 UTF-8 bytes: "a" + 32,767 × U+0301 COMBINING ACUTE ACCENT.
        static let hugeName = "a" + String(repeating: "\u{301}", count: 32_767)

        @Test("the node name used below is one Character of 65,535 bytes")
        func hugeNameShape() {
            #expect(Self.hugeName.count == 1)
            #expect(Self.hugeName.utf8.count == 65_535)
        }

        @Test("encoding an error whose message has few but huge Characters does not crash")
        func errorPayloadEncodeDoesNotCrash() async {
            await #expect(processExitsWith: .success, "ErrorPayload.encode must cap the message in bytes") {
                let name = "a" + String(repeating: "\u{301}", count: 32_767)
                let error = ETunnelError(.authenticationFailed, "handshake refused: \(name) did not prove the cluster secret")
                let payload = ErrorPayload(error).encoded()
                let decoded = try ErrorPayload.decode(payload)
                guard decoded.error.code == .authenticationFailed, payload.readableBytes <= 4 + 4 * 1024 else { exit(3) }
            }
        }

        @Test("a client naming itself with a 65,535-byte Character is refused without crashing the server (real process)")
        func hugeNameDoesNotCrashServer() async throws {
            let server = try await BenchServerProcess.start(secret: "limit-secret")
            defer { server.kill() }
            let raw = try await RawTCPClient.connect(port: server.port)
            let hello = Handshake.Hello(
                minVersion: 1, maxVersion: 1, nonce: HandshakeStateMachine.randomNonce(), receiveWindow: 16, nodeName: Self.hugeName)
            var out = ByteBuffer()
            out.writeETunnelFrame(kind: .hello, payload: try hello.encoded())
            await raw.send(out)
            // Names are capped at 255 bytes: the HELLO itself is refused as malformed.
            let answer = try? await raw.nextFrame(seconds: 5)
            #expect(answer?.kind == .error, "expected an ERROR frame, got \(String(describing: answer?.kind))")
            if let answer {
                let error = WireError(payload: answer.payload)
                #expect(error?.code == ETunnelError.Code.protocolViolation.rawValue)
                #expect(error?.message.contains("HELLO") == true, "\(String(describing: error))")
            }
            #expect(await raw.waitForClose(seconds: 2))
            await raw.close()

            try await Task.sleep(for: .milliseconds(200))
            let reason = server.process.terminationReason.map { "\($0)" } ?? "running"
            let status = server.process.terminationStatus.map { "\($0)" } ?? "-"
            #expect(server.isRunning, "the bench server died (reason \(reason), status \(status)) after a pre-auth client's oversized name")
        }
    }
}
