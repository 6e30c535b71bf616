@testable import BenchKit
import Testing
import XMPPCore

@Suite("Key-caching SCRAM client")
struct CachedSCRAMClientTests {
    /// One full exchange against XMPPCore's server; throws if either side rejects the other.
    func login(_ algorithm: SCRAMAlgorithm, password: String, credentials: SCRAMCredentials, cache: SaltedKeyCache = SaltedKeyCache()) throws {
        var client = try #require(CachedSCRAMClient(algorithm: algorithm, username: "user7", password: password, clientNonce: nil,
                                                    minimumIterations: 4096, cache: cache))
        var server = SCRAMServer(algorithm: algorithm)
        #expect(try server.receiveClientFirst(client.clientFirst()) == "user7")
        let final = try client.receiveServerFirst(server.serverFirst(credentials: credentials))
        try client.receiveServerFinal(try server.receiveClientFinal(final))
        #expect(server.isAuthenticated)
    }

    @Test(arguments: SCRAMAlgorithm.allCases)
    func derivesOncePerSaltAndAgreesWithTheServer(_ algorithm: SCRAMAlgorithm) throws {
        let credentials = try SCRAMCredentials.derive(password: "shared-\(algorithm)", algorithm: algorithm, iterations: 4096)
        let cache = SaltedKeyCache()
        for _ in 0..<5 { try login(algorithm, password: "shared-\(algorithm)", credentials: credentials, cache: cache) }
        #expect(cache.derivations.load(ordering: .relaxed) == 1)
        // Another salt (a device provisioned on its own) is another derivation.
        let other = try SCRAMCredentials.derive(password: "shared-\(algorithm)", algorithm: algorithm, iterations: 4096)
        try login(algorithm, password: "shared-\(algorithm)", credentials: other, cache: cache)
        #expect(cache.derivations.load(ordering: .relaxed) == 2)
    }

    @Test func wrongPasswordIsRejectedByTheServer() throws {
        let credentials = try SCRAMCredentials.derive(password: "right", algorithm: .sha256, iterations: 4096)
        #expect(throws: SASLError.self) { try login(.sha256, password: "wrong", credentials: credentials) }
    }

    @Test func hiMatchesTheRFC5802TestVector() {
        // RFC 5802 §5: SaltedPassword for "pencil", salt QSXCR+Q6sek8bf92, i=4096 gives
        // ClientKey e234c47bf6c36696dd6d852b99aaa2ba26555728.
        let salt = SASLBase64.decode("QSXCR+Q6sek8bf92")!
        let salted = SaltedKeyCache.hi(algorithm: .sha1, password: Array("pencil".utf8), salt: salt, iterations: 4096)
        let clientKey = SCRAMAlgorithm.sha1.hmac(key: salted, data: Array("Client Key".utf8))
        #expect(clientKey.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
                == "e234c47bf6c36696dd6d852b99aaa2ba26555728")
    }

    @Test func nonASCIIPasswordsFallBackToXMPPCore() {
        #expect(CachedSCRAMClient(algorithm: .sha1, username: "u", password: "pässword", clientNonce: nil, minimumIterations: 4096) == nil)
    }

    @Test func usernamesAreEscaped() throws {
        let client = try #require(CachedSCRAMClient(algorithm: .sha1, username: "a,b=c", password: "x", clientNonce: "abc", minimumIterations: 1))
        #expect(String(decoding: client.clientFirst(), as: UTF8.self) == "n,,n=a=2Cb=3Dc,r=abc")
    }
}
