import Testing
@testable import XMPPCore

/// Full client/server exchanges with derived credentials, decoys for unknown users, and the
/// client's own checks of server-first.
@Suite("SCRAM exchanges")
struct SCRAMExchangeTests {
    @Test("right password authenticates both ways", arguments: SCRAMAlgorithm.allCases)
    func rightPassword(algorithm: SCRAMAlgorithm) throws {
        let credentials = try SCRAMCredentials.derive(password: "correct horse", algorithm: algorithm)
        let error = try SCRAMTest.exchange(
            algorithm: algorithm, username: "alice", password: "correct horse", credentials: credentials)
        #expect(error == nil)
    }

    @Test("wrong password fails with not-authorized", arguments: SCRAMAlgorithm.allCases)
    func wrongPassword(algorithm: SCRAMAlgorithm) throws {
        let credentials = try SCRAMCredentials.derive(password: "correct horse", algorithm: algorithm)
        let error = try SCRAMTest.exchange(
            algorithm: algorithm, username: "alice", password: "battery staple", credentials: credentials)
        #expect(error?.condition == .notAuthorized)
    }

    @Test("username with ',' and '=' survives escaping", arguments: SCRAMAlgorithm.allCases)
    func escapedUsername(algorithm: SCRAMAlgorithm) throws {
        let credentials = try SCRAMCredentials.derive(password: "pw", algorithm: algorithm)
        var client = SCRAMClient(algorithm: algorithm, username: "a,b=c", password: "pw")
        #expect(SCRAMTest.text(client.clientFirst()).hasPrefix("n,,n=a=2Cb=3Dc,r="))
        var server = SCRAMServer(algorithm: algorithm)
        #expect(try server.receiveClientFirst(client.clientFirst()) == "a,b=c")
        let reply = try client.receiveServerFirst(server.serverFirst(credentials: credentials))
        try client.receiveServerFinal(server.receiveClientFinal(reply))
        #expect(server.isAuthenticated && client.isAuthenticated)
        #expect(server.username == "a,b=c")
    }

    @Test("unknown user gets a normal-looking server-first and fails at the proof", arguments: SCRAMAlgorithm.allCases)
    func unknownUser(algorithm: SCRAMAlgorithm) throws {
        // A real account and a missing one, both with a wrong password: same failure, same text.
        let real = try SCRAMCredentials.derive(password: "secret", algorithm: algorithm)
        let wrongPassword = try SCRAMTest.exchange(algorithm: algorithm, username: "alice", password: "guess", credentials: real)
        let unknown = try SCRAMTest.exchange(algorithm: algorithm, username: "mallory", password: "guess", credentials: nil)
        #expect(unknown?.condition == .notAuthorized)
        #expect(unknown == wrongPassword)

        // server-first for the unknown user has the same shape as for the real one.
        func serverFirst(_ credentials: SCRAMCredentials, user: String) throws -> [Substring] {
            var server = SCRAMServer(algorithm: algorithm)
            _ = try server.receiveClientFirst(SCRAMTest.bytes("n,,n=\(user),r=abc"))
            return SCRAMTest.text(server.serverFirst(credentials: credentials)).split(separator: ",")
        }
        let decoy = SCRAMServer.decoyCredentials(for: "mallory", algorithm: algorithm)
        let realFields = try serverFirst(real, user: "alice")
        let decoyFields = try serverFirst(decoy, user: "mallory")
        #expect(realFields.count == decoyFields.count)
        #expect(realFields[1].count == decoyFields[1].count)  // s= of a 16-byte salt
        #expect(realFields[2] == decoyFields[2])              // i=4096
        #expect(decoy.salt.count == real.salt.count)
    }

    @Test("decoy credentials are stable per user and differ between users")
    func decoyDeterminism() {
        let a1 = SCRAMServer.decoyCredentials(for: "mallory", algorithm: .sha256)
        let a2 = SCRAMServer.decoyCredentials(for: "mallory", algorithm: .sha256)
        let b = SCRAMServer.decoyCredentials(for: "trudy", algorithm: .sha256)
        let other = SCRAMServer.decoyCredentials(for: "mallory", algorithm: .sha1)
        #expect(a1 == a2)
        #expect(a1.salt != b.salt)
        #expect(a1.salt != other.salt)
        #expect(other.storedKey.count == 20)
        #expect(a1.iterations == 4096)
        let secret: [UInt8] = Array(repeating: 7, count: 32)
        let s1 = SCRAMServer.decoyCredentials(for: "mallory", algorithm: .sha256, secret: secret)
        let s2 = SCRAMServer.decoyCredentials(for: "mallory", algorithm: .sha256, secret: secret)
        #expect(s1 == s2)
        #expect(s1.salt != a1.salt)
        #expect(SCRAMServer.decoyCredentials(for: "x", algorithm: .sha1, iterations: 0).iterations == 1)
    }

    @Test("credentials of the other algorithm fail at the proof, not with a trap")
    func algorithmMismatch() throws {
        let sha1 = try SCRAMCredentials.derive(password: "pw", algorithm: .sha1)
        let error = try SCRAMTest.exchange(algorithm: .sha256, username: "alice", password: "pw", credentials: sha1)
        #expect(error?.condition == .notAuthorized)
    }

    @Test("client enforces the minimum iteration count, which tests may lower")
    func minimumIterations() throws {
        let weak = try SCRAMCredentials.derive(password: "pw", algorithm: .sha256, iterations: 1024)
        let refused = try SCRAMTest.exchange(algorithm: .sha256, username: "alice", password: "pw", credentials: weak)
        #expect(refused?.condition == .mechanismTooWeak)
        let allowed = try SCRAMTest.exchange(
            algorithm: .sha256, username: "alice", password: "pw", credentials: weak, minimumIterations: 1000)
        #expect(allowed == nil)
    }

    @Test("client rejects malformed or hostile server-first messages")
    func clientRejectsServerFirst() {
        let cases: [(String, SASLFailureCondition)] = [
            ("", .malformedRequest),
            ("r=abcdef,s=QSXCR+Q6sek8bf92", .malformedRequest),
            ("r=xyz123,s=QSXCR+Q6sek8bf92,i=4096", .notAuthorized),       // does not extend our nonce
            ("r=abc,s=QSXCR+Q6sek8bf92,i=4096", .notAuthorized),          // adds nothing to our nonce
            ("r=abcdef,s=QSXCR+Q6sek8bf9,i=4096", .malformedRequest),     // bad base64 salt
            ("r=abcdef,s=,i=4096", .malformedRequest),                    // empty salt
            ("r=abcdef,s=QSXCR+Q6sek8bf92,i=abc", .malformedRequest),
            ("r=abcdef,s=QSXCR+Q6sek8bf92,i=-4096", .malformedRequest),
            ("r=abcdef,s=QSXCR+Q6sek8bf92,i=0", .malformedRequest),
            ("r=abcdef,s=QSXCR+Q6sek8bf92,i=4095", .mechanismTooWeak),
            ("r=abcdef,s=QSXCR+Q6sek8bf92,i=999999999", .malformedRequest),
            ("r=abcdef,s=QSXCR+Q6sek8bf92,i=99999999999999999999", .malformedRequest),
            ("m=ext,r=abcdef,s=QSXCR+Q6sek8bf92,i=4096", .malformedRequest),
            ("s=QSXCR+Q6sek8bf92,r=abcdef,i=4096", .malformedRequest),
            ("r=abcdef,s=QSXCR+Q6sek8bf92,i=4096,junk", .malformedRequest),
        ]
        for (message, condition) in cases {
            var client = SCRAMClient(algorithm: .sha1, username: "user", password: "pencil", clientNonce: "abc")
            let error = SCRAMTest.saslError { () throws(SASLError) in try client.receiveServerFirst(SCRAMTest.bytes(message)) }
            #expect(error?.condition == condition, "\(message)")
        }
    }

    @Test("client with a password SASLprep rejects fails cleanly")
    func clientBadPassword() {
        var client = SCRAMClient(algorithm: .sha1, username: "user", password: "pen\u{7}cil", clientNonce: "abc")
        let error = SCRAMTest.saslError { () throws(SASLError) in
            try client.receiveServerFirst(SCRAMTest.bytes("r=abcdef,s=QSXCR+Q6sek8bf92,i=4096"))
        }
        #expect(error?.condition == .malformedRequest)
    }

    @Test("client rejects out-of-order messages")
    func clientOrder() throws {
        var client = SCRAMClient(algorithm: .sha1, username: "user", password: "pencil", clientNonce: "abc")
        #expect(SCRAMTest.saslError { () throws(SASLError) in try client.receiveServerFinal(SCRAMTest.bytes("v=AAAA")) } != nil)
        #expect(SCRAMTest.saslError { () throws(SASLError) in
            try client.receiveServerFirst(SCRAMTest.bytes("r=abcdef,s=QSXCR+Q6sek8bf92,i=4096"))
        } != nil)
    }

    @Test("random nonces are fresh and well-formed")
    func randomNonces() throws {
        let a = SCRAMClient(algorithm: .sha256, username: "u", password: "p")
        let b = SCRAMClient(algorithm: .sha256, username: "u", password: "p")
        #expect(a.clientFirst() != b.clientFirst())
        var server = SCRAMServer(algorithm: .sha256)
        _ = try server.receiveClientFirst(a.clientFirst())
        let first = SCRAMTest.text(server.serverFirst(credentials: SCRAMServer.decoyCredentials(for: "u", algorithm: .sha256)))
        let nonce = try #require(first.split(separator: ",").first)
        #expect(nonce.count == 2 + 24 + 24)
    }
}
