import Testing
@testable import XMPPCore

/// Hostile and broken client messages: each must end in malformed-request or not-authorized,
/// never a trap, and must leave the server failed.
@Suite("SCRAM server input validation")
struct SCRAMServerMalformedTests {
    static let nonce = "fyko+d2lbbFgONRv9qkxdawL"
    static let serverNonce = "3rfcNHYJY1ZVvWVs7j"
    static let combined = nonce + serverNonce
    static let validProof = "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="

    static func credentials() throws -> SCRAMCredentials {
        try SCRAMCredentials.derive(
            password: "pencil", algorithm: .sha1, salt: SASLBase64.decode("QSXCR+Q6sek8bf92")!, iterations: 4096)
    }

    /// A server that has accepted the RFC 5802 client-first and sent server-first.
    static func serverAwaitingFinal(clientFirst: String = "n,,n=user,r=\(nonce)") throws -> SCRAMServer {
        var server = SCRAMServer(algorithm: .sha1)
        _ = try server.receiveClientFirst(SCRAMTest.bytes(clientFirst))
        _ = server.serverFirst(credentials: try credentials(), serverNonce: serverNonce)
        return server
    }

    /// A named test input; only the name is shown in test output (some inputs are kilobytes long).
    struct Input<Value: Sendable>: Sendable, CustomTestStringConvertible {
        var name: String
        var value: Value
        var testDescription: String { name }
    }

    static let badClientFirst: [Input<[UInt8]>] = [(String, [UInt8])]([
        ("empty", []),
        ("gs2 only", SCRAMTest.bytes("n,,")),
        ("no nonce", SCRAMTest.bytes("n,,n=user")),
        ("no username", SCRAMTest.bytes("n,,r=abc")),
        ("swapped attributes", SCRAMTest.bytes("n,,r=abc,n=user")),
        ("no gs2 header", SCRAMTest.bytes("n=user,r=abc")),
        ("unknown cbind flag", SCRAMTest.bytes("x,,n=user,r=abc")),
        ("long cbind flag", SCRAMTest.bytes("nn,,n=user,r=abc")),
        ("p without cb-name", SCRAMTest.bytes("p,,n=user,r=abc")),
        ("channel binding requested", SCRAMTest.bytes("p=tls-unique,,n=user,r=abc")),
        ("channel binding exporter", SCRAMTest.bytes("p=tls-exporter,,n=user,r=abc")),
        ("bad authzid attribute", SCRAMTest.bytes("n,x=admin,n=user,r=abc")),
        ("empty authzid value", SCRAMTest.bytes("n,a=,n=user,r=abc")),
        ("empty username", SCRAMTest.bytes("n,,n=,r=abc")),
        ("unknown escape", SCRAMTest.bytes("n,,n=us=2Xer,r=abc")),
        ("lowercase escape", SCRAMTest.bytes("n,,n=us=2cer,r=abc")),
        ("truncated escape", SCRAMTest.bytes("n,,n=user=2,r=abc")),
        ("bare equals", SCRAMTest.bytes("n,,n=user=,r=abc")),
        ("control char in username", SCRAMTest.bytes("n,,n=us\u{1}er,r=abc")),
        ("empty nonce", SCRAMTest.bytes("n,,n=user,r=")),
        ("nonce with DEL", SCRAMTest.bytes("n,,n=user,r=ab\u{7F}c")),
        ("nonce with space", SCRAMTest.bytes("n,,n=user,r=ab c")),
        ("non-ASCII nonce", SCRAMTest.bytes("n,,n=user,r=abcé")),
        ("malformed extension", SCRAMTest.bytes("n,,n=user,r=abc,junk")),
        ("empty trailing field", SCRAMTest.bytes("n,,n=user,r=abc,")),
        ("mandatory extension", SCRAMTest.bytes("n,,m=foo,n=user,r=abc")),
        ("invalid UTF-8", [UInt8(ascii: "n"), 44, 44, UInt8(ascii: "n"), 61, 0xFF, 0xFE, 44, UInt8(ascii: "r"), 61, 0x41]),
        ("overlong UTF-8 comma", [UInt8(ascii: "n"), 44, 44, UInt8(ascii: "n"), 61, 0xC0, 0xAC, 44, UInt8(ascii: "r"), 61, 0x41]),
        ("too long", SCRAMTest.bytes("n,,n=user,r=" + String(repeating: "a", count: 5000))),
        ("just commas", SCRAMTest.bytes(",,,,")),
    ]).map { Input(name: $0.0, value: $0.1) }

    @Test("malformed client-first is rejected with malformed-request", arguments: badClientFirst)
    func badFirst(input: Input<[UInt8]>) {
        let (name, message) = (input.name, input.value)
        var server = SCRAMServer(algorithm: .sha1)
        let error = SCRAMTest.saslError { () throws(SASLError) in try server.receiveClientFirst(message) }
        #expect(error?.condition == .malformedRequest, "\(name)")
        // The exchange is over: nothing further is accepted.
        #expect(SCRAMTest.saslError { () throws(SASLError) in
            try server.receiveClientFirst(SCRAMTest.bytes("n,,n=user,r=abc"))
        } != nil)
        #expect(server.serverFirst(credentials: SCRAMServer.decoyCredentials(for: "user", algorithm: .sha1)).isEmpty)
    }

    @Test("channel binding request says why")
    func channelBindingText() {
        var server = SCRAMServer(algorithm: .sha256)
        let error = SCRAMTest.saslError { () throws(SASLError) in
            try server.receiveClientFirst(SCRAMTest.bytes("p=tls-exporter,,n=user,r=abc"))
        }
        #expect(error?.text.contains("PLUS") == true)
    }

    @Test("well-formed variants of client-first are accepted")
    func goodFirst() throws {
        let cases: [(String, String, String?)] = [
            ("y,,n=user,r=abc", "user", nil),
            ("n,a=admin@example.com,n=user,r=abc", "user", "admin@example.com"),
            ("n,a=a=2Cb,n=user,r=abc", "user", "a,b"),
            ("n,,n=a=2Cb=3Dc,r=abc", "a,b=c", nil),
            ("n,,n=user,r=abc,x=extension", "user", nil),
            ("n,,n=jürgen,r=abc", "jürgen", nil),
        ]
        for (message, username, authzid) in cases {
            var server = SCRAMServer(algorithm: .sha256)
            #expect(try server.receiveClientFirst(SCRAMTest.bytes(message)) == username)
            #expect(server.authorizationIdentity == authzid)
        }
    }

    @Test("y flag and authzid take part in the c= check")
    func gs2HeaderBinding() throws {
        // "y,," must be answered with c=eSws (base64 of "y,,"), not biws.
        var server = try Self.serverAwaitingFinal(clientFirst: "y,,n=user,r=\(Self.nonce)")
        let error = SCRAMTest.saslError { () throws(SASLError) in
            try server.receiveClientFinal(SCRAMTest.bytes("c=biws,r=\(Self.combined),p=\(Self.validProof)"))
        }
        #expect(error?.condition == .notAuthorized)
    }

    static let badClientFinal: [Input<(message: String, condition: SASLFailureCondition)>] = [(String, String, SASLFailureCondition)]([
        ("empty", "", .malformedRequest),
        ("only c", "c=biws", .malformedRequest),
        ("no proof", "c=biws,r=\(combined)", .malformedRequest),
        ("proof not last", "c=biws,p=\(validProof),r=\(combined)", .malformedRequest),
        ("r before c", "r=\(combined),c=biws,p=\(validProof)", .malformedRequest),
        ("bad base64 proof", "c=biws,r=\(combined),p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts", .malformedRequest),
        ("garbage proof", "c=biws,r=\(combined),p=!!!!", .malformedRequest),
        ("empty proof", "c=biws,r=\(combined),p=", .malformedRequest),
        ("short proof", "c=biws,r=\(combined),p=AAAA", .malformedRequest),
        ("long proof", "c=biws,r=\(combined),p=\(SASLBase64.encode([UInt8](repeating: 1, count: 32)))", .malformedRequest),
        ("bad base64 c", "c=biw,r=\(combined),p=\(validProof)", .malformedRequest),
        ("tampered c (y)", "c=eSws,r=\(combined),p=\(validProof)", .notAuthorized),
        ("tampered c (authzid)", "c=\(SASLBase64.encode(Array("n,a=admin,".utf8))),r=\(combined),p=\(validProof)", .notAuthorized),
        ("tampered c (channel binding)", "c=\(SASLBase64.encode(Array("p=tls-unique,,".utf8) + [1, 2, 3])),r=\(combined),p=\(validProof)", .notAuthorized),
        ("empty c", "c=,r=\(combined),p=\(validProof)", .notAuthorized),
        ("nonce mismatch", "c=biws,r=\(nonce)XXXX,p=\(validProof)", .notAuthorized),
        ("client nonce only", "c=biws,r=\(nonce),p=\(validProof)", .notAuthorized),
        ("nonce prefix", "c=biws,r=\(combined)x,p=\(validProof)", .notAuthorized),
        ("flipped proof bit", "c=biws,r=\(combined),p=w0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", .notAuthorized),
        ("extension not covered by proof", "c=biws,r=\(combined),x=1,p=\(validProof)", .notAuthorized),
        ("malformed extension", "c=biws,r=\(combined),junk,p=\(validProof)", .malformedRequest),
        ("trailing comma", "c=biws,r=\(combined),p=\(validProof),", .malformedRequest),
        ("too long", "c=biws,r=\(combined),x=\(String(repeating: "a", count: 5000)),p=\(validProof)", .malformedRequest),
    ]).map { Input(name: $0.0, value: ($0.1, $0.2)) }

    @Test("malformed or tampered client-final is rejected", arguments: badClientFinal)
    func badFinal(input: Input<(message: String, condition: SASLFailureCondition)>) throws {
        let (name, message, condition) = (input.name, input.value.message, input.value.condition)
        var server = try Self.serverAwaitingFinal()
        let error = SCRAMTest.saslError { () throws(SASLError) in try server.receiveClientFinal(SCRAMTest.bytes(message)) }
        #expect(error?.condition == condition, "\(name)")
        #expect(!server.isAuthenticated)
        // Failed for good: even the correct message is now refused.
        #expect(SCRAMTest.saslError { () throws(SASLError) in
            try server.receiveClientFinal(SCRAMTest.bytes("c=biws,r=\(Self.combined),p=\(Self.validProof)"))
        } != nil)
    }

    @Test("the RFC client-final still succeeds on a fresh server (control for the table)")
    func control() throws {
        var server = try Self.serverAwaitingFinal()
        _ = try server.receiveClientFinal(SCRAMTest.bytes("c=biws,r=\(Self.combined),p=\(Self.validProof)"))
        #expect(server.isAuthenticated)
    }

    @Test("messages out of order fail the exchange")
    func outOfOrder() throws {
        var early = SCRAMServer(algorithm: .sha1)
        #expect(SCRAMTest.saslError { () throws(SASLError) in
            try early.receiveClientFinal(SCRAMTest.bytes("c=biws,r=\(Self.combined),p=\(Self.validProof)"))
        }?.condition == .malformedRequest)

        var noServerFirst = SCRAMServer(algorithm: .sha1)
        _ = try noServerFirst.receiveClientFirst(SCRAMTest.bytes("n,,n=user,r=\(Self.nonce)"))
        #expect(SCRAMTest.saslError { () throws(SASLError) in
            try noServerFirst.receiveClientFinal(SCRAMTest.bytes("c=biws,r=\(Self.combined),p=\(Self.validProof)"))
        }?.condition == .malformedRequest)

        var twice = SCRAMServer(algorithm: .sha1)
        _ = try twice.receiveClientFirst(SCRAMTest.bytes("n,,n=user,r=\(Self.nonce)"))
        #expect(SCRAMTest.saslError { () throws(SASLError) in
            try twice.receiveClientFirst(SCRAMTest.bytes("n,,n=user,r=\(Self.nonce)"))
        } != nil)

        var done = try Self.serverAwaitingFinal()
        _ = try done.receiveClientFinal(SCRAMTest.bytes("c=biws,r=\(Self.combined),p=\(Self.validProof)"))
        #expect(SCRAMTest.saslError { () throws(SASLError) in
            try done.receiveClientFinal(SCRAMTest.bytes("c=biws,r=\(Self.combined),p=\(Self.validProof)"))
        } != nil)
    }

    @Test("random mutations of valid messages never trap and never authenticate")
    func mutations() throws {
        var rng = SCRAMTest.SplitMix(state: 0x5CA1AB1E)
        let first = SCRAMTest.bytes("n,,n=user,r=\(Self.nonce)")
        let final = SCRAMTest.bytes("c=biws,r=\(Self.combined),p=\(Self.validProof)")
        let credentials = try Self.credentials()
        let alphabet = SCRAMTest.bytes("=,abcnprvyx0129+/AZ\u{0}") + [0xFF, 0xC3]
        func mutate(_ message: [UInt8]) -> [UInt8] {
            var out = message
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                switch Int.random(in: 0..<3, using: &rng) {
                case 0 where !out.isEmpty: out[Int.random(in: out.indices, using: &rng)] = alphabet.randomElement(using: &rng)!
                case 1 where !out.isEmpty: out.remove(at: Int.random(in: out.indices, using: &rng))
                default: out.insert(alphabet.randomElement(using: &rng)!, at: Int.random(in: 0...out.count, using: &rng))
                }
            }
            return out
        }
        for _ in 0..<2000 {
            var server = SCRAMServer(algorithm: .sha1)
            let mutatedFirst = Bool.random(using: &rng) ? mutate(first) : first
            let mutatedFinal = mutatedFirst == first ? mutate(final) : final
            do {
                _ = try server.receiveClientFirst(mutatedFirst)
                _ = server.serverFirst(credentials: credentials, serverNonce: Self.serverNonce)
                _ = try server.receiveClientFinal(mutatedFinal)
                // Only mutations that do not change the signed content can succeed
                // (there are none, except a no-op mutation such as replacing a byte by itself).
                #expect(mutatedFirst == first && mutatedFinal == final, "accepted a mutated exchange")
            } catch {
                #expect([.malformedRequest, .notAuthorized].contains(error.condition))
                #expect(!server.isAuthenticated)
            }
        }
    }
}
