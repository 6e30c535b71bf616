import Testing
@testable import XMPPCore

@Suite("SCRAM credentials")
struct SCRAMCredentialsTests {
    @Test("derive draws a fresh 16-byte salt and uses 4096 iterations by default", arguments: SCRAMAlgorithm.allCases)
    func defaults(algorithm: SCRAMAlgorithm) throws {
        let a = try SCRAMCredentials.derive(password: "pw", algorithm: algorithm)
        let b = try SCRAMCredentials.derive(password: "pw", algorithm: algorithm)
        #expect(a.salt.count == 16)
        #expect(a.salt != b.salt)
        #expect(a.storedKey != b.storedKey)
        #expect(a.iterations == 4096)
        #expect(a.algorithm == algorithm)
        #expect(a.storedKey.count == algorithm.digestByteCount)
        #expect(a.serverKey.count == algorithm.digestByteCount)
    }

    @Test("derive is deterministic for a given salt")
    func deterministic() throws {
        let salt: [UInt8] = Array(0..<16)
        let a = try SCRAMCredentials.derive(password: "pw", algorithm: .sha256, salt: salt, iterations: 4096)
        let b = try SCRAMCredentials.derive(password: "pw", algorithm: .sha256, salt: salt, iterations: 4096)
        let c = try SCRAMCredentials.derive(password: "pw", algorithm: .sha256, salt: salt, iterations: 4097)
        #expect(a == b)
        #expect(a.storedKey != c.storedKey)
    }

    @Test("derive rejects bad passwords and parameters")
    func rejects() {
        func error(_ body: () throws(SCRAMCredentialsError) -> SCRAMCredentials) -> SCRAMCredentialsError? {
            do { _ = try body(); return nil } catch { return error }
        }
        for password in ["", "\u{00AD}", "pen\u{0}cil", "pen\ncil", "pen\u{7F}cil", "pen\u{202E}cil", "pen\u{E000}cil", "pen\u{FFFF}cil"] {
            guard case .invalidPassword? = error({ () throws(SCRAMCredentialsError) in
                try SCRAMCredentials.derive(password: password, algorithm: .sha1)
            }) else {
                Issue.record("accepted password \(password.unicodeScalars.map { $0.value })")
                continue
            }
        }
        #expect(error { () throws(SCRAMCredentialsError) in try .derive(password: "pw", algorithm: .sha1, salt: []) } == .invalidSalt)
        #expect(error { () throws(SCRAMCredentialsError) in
            try .derive(password: "pw", algorithm: .sha1, salt: Array(repeating: 1, count: 256))
        } == .invalidSalt)
        #expect(error { () throws(SCRAMCredentialsError) in try .derive(password: "pw", algorithm: .sha1, iterations: 0) } == .invalidIterations(0))
        #expect(error { () throws(SCRAMCredentialsError) in
            try .derive(password: "pw", algorithm: .sha1, iterations: 20_000_000)
        } == .invalidIterations(20_000_000))
        #expect(error { () throws(SCRAMCredentialsError) in
            try SCRAMCredentials(algorithm: .sha256, salt: [1], iterations: 4096, storedKey: [UInt8](repeating: 0, count: 20),
                                 serverKey: [UInt8](repeating: 0, count: 32))
        } == .invalidKeyLength)
    }

    @Test("verifies(plainPassword:) checks a cleartext password against stored keys", arguments: SCRAMAlgorithm.allCases)
    func verifiesPlain(algorithm: SCRAMAlgorithm) throws {
        let credentials = try SCRAMCredentials.derive(password: "Tr0ub4dor&3", algorithm: algorithm)
        #expect(credentials.verifies(plainPassword: "Tr0ub4dor&3"))
        #expect(!credentials.verifies(plainPassword: "tr0ub4dor&3"))
        #expect(!credentials.verifies(plainPassword: "Tr0ub4dor&"))
        #expect(!credentials.verifies(plainPassword: ""))
        #expect(!credentials.verifies(plainPassword: "Tr0ub4dor&3\u{0}"))
        // A decoy never verifies, but costs the same PBKDF2.
        #expect(!SCRAMServer.decoyCredentials(for: "nobody", algorithm: algorithm).verifies(plainPassword: "Tr0ub4dor&3"))
    }

    @Test("SASLprep mapping: non-ASCII spaces, mapped-to-nothing characters and NFKC")
    func saslprep() throws {
        let credentials = try SCRAMCredentials.derive(password: "I X fi", algorithm: .sha256)
        #expect(credentials.verifies(plainPassword: "I\u{00A0}X fi"))         // no-break space -> space
        #expect(credentials.verifies(plainPassword: "I X\u{3000}fi"))         // ideographic space -> space
        #expect(credentials.verifies(plainPassword: "I X f\u{00AD}i"))        // soft hyphen dropped
        #expect(credentials.verifies(plainPassword: "I X \u{FB01}"))          // ligature fi -> fi (NFKC)
        #expect(credentials.verifies(plainPassword: "\u{2160} X fi"))         // Roman numeral one -> I (NFKC)
        #expect(!credentials.verifies(plainPassword: "I  X fi"))
        // Composed and decomposed forms of the same text are the same password.
        let accent = try SCRAMCredentials.derive(password: "caf\u{E9}", algorithm: .sha1)
        #expect(accent.verifies(plainPassword: "cafe\u{301}"))
        // ASCII is untouched: the client and server agree even if the client skips SASLprep.
        #expect(try SASLprep.prepare("p@ss w0rd!~") == "p@ss w0rd!~")
    }

    @Test("storage encoding round-trips", arguments: SCRAMAlgorithm.allCases)
    func roundTrip(algorithm: SCRAMAlgorithm) throws {
        for credentials in [
            try SCRAMCredentials.derive(password: "pw", algorithm: algorithm),
            try SCRAMCredentials.derive(password: "pw", algorithm: algorithm, salt: [9], iterations: 1),
            try SCRAMCredentials.derive(password: "pw", algorithm: algorithm, salt: Array(repeating: 0xAB, count: 255), iterations: 10_000),
        ] {
            let blob = credentials.encode()
            #expect(blob.count == 9 + credentials.salt.count + 2 * algorithm.digestByteCount + 4)
            let decoded = try SCRAMCredentials(decoding: blob)
            #expect(decoded == credentials)
            #expect(decoded.verifies(plainPassword: "pw"))
        }
    }

    @Test("corrupted, truncated or foreign blobs are rejected")
    func corrupted() throws {
        let blob = try SCRAMCredentials.derive(password: "pw", algorithm: .sha256).encode()
        func rejected(_ bytes: [UInt8]) -> Bool {
            do { _ = try SCRAMCredentials(decoding: bytes); return false } catch {
                if case .corruptEncoding = error { return true }
                return false
            }
        }
        // Every single-bit flip anywhere in the record is detected.
        for index in blob.indices {
            for bit in 0..<8 {
                var copy = blob
                copy[index] ^= 1 << bit
                #expect(rejected(copy), "flip of bit \(bit) in byte \(index) went unnoticed")
            }
        }
        for length in 0..<blob.count {
            #expect(rejected(Array(blob.prefix(length))), "truncated to \(length)")
        }
        #expect(rejected(blob + [0]))
        #expect(rejected([]))
        #expect(rejected(Array("SCRAM-SHA-256".utf8)))
    }

    @Test("description does not leak keys")
    func redacted() throws {
        let credentials = try SCRAMCredentials.derive(password: "pw", algorithm: .sha1)
        let text = "\(credentials) \(String(reflecting: credentials))"
        #expect(!text.contains(SASLBase64.encode(credentials.storedKey)))
        #expect(!text.contains("\(credentials.storedKey)"))
        #expect(text.contains("SCRAM-SHA-1"))
    }

    @Test("algorithm names")
    func algorithmNames() {
        #expect(SCRAMAlgorithm.sha1.mechanismName == "SCRAM-SHA-1")
        #expect(SCRAMAlgorithm.sha256.mechanismName == "SCRAM-SHA-256")
        #expect(SCRAMAlgorithm(mechanismName: "SCRAM-SHA-256") == .sha256)
        #expect(SCRAMAlgorithm(mechanismName: "SCRAM-SHA-1") == .sha1)
        #expect(SCRAMAlgorithm(mechanismName: "SCRAM-SHA-1-PLUS") == nil)
        #expect(SCRAMAlgorithm(mechanismName: "scram-sha-1") == nil)
        #expect(SCRAMAlgorithm.sha1.digestByteCount == 20)
        #expect(SCRAMAlgorithm.sha256.digestByteCount == 32)
        // HMAC-SHA-256 from RFC 4231 test case 2.
        let mac = SCRAMAlgorithm.sha256.hmac(key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8))
        #expect(mac.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
            == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }
}
