import Testing
@testable import XMPPCore

/// The worked examples of RFC 5802 §5 (SCRAM-SHA-1) and RFC 7677 §3 (SCRAM-SHA-256), checked from
/// both ends: our server against the RFC client messages, and our client against the RFC server.
@Suite("SCRAM RFC test vectors")
struct SCRAMVectorTests {
    struct Vector: Sendable, CustomStringConvertible {
        var algorithm: SCRAMAlgorithm
        var clientNonce: String
        var serverNoncePart: String
        var salt: String
        var clientFirst: String { "n,,n=user,r=\(clientNonce)" }
        var serverFirst: String { "r=\(clientNonce)\(serverNoncePart),s=\(salt),i=4096" }
        var proof: String
        var clientFinal: String { "c=biws,r=\(clientNonce)\(serverNoncePart),p=\(proof)" }
        var serverSignature: String
        var serverFinal: String { "v=\(serverSignature)" }
        var description: String { algorithm.mechanismName }
    }

    static let vectors: [Vector] = [
        Vector(
            algorithm: .sha1, clientNonce: "fyko+d2lbbFgONRv9qkxdawL", serverNoncePart: "3rfcNHYJY1ZVvWVs7j",
            salt: "QSXCR+Q6sek8bf92", proof: "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
            serverSignature: "rmF9pqV8S7suAoZWja4dJRkFsKQ="),
        Vector(
            algorithm: .sha256, clientNonce: "rOprNGfwEbeRWgbNEkqO", serverNoncePart: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
            salt: "W22ZaJ0SNY7soEsUEjb6gQ==", proof: "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            serverSignature: "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
    ]

    static func credentials(_ vector: Vector, password: String = "pencil") throws -> SCRAMCredentials {
        let salt = try #require(SASLBase64.decode(vector.salt))
        return try SCRAMCredentials.derive(password: password, algorithm: vector.algorithm, salt: salt, iterations: 4096)
    }

    @Test("server side reproduces the RFC exchange", arguments: vectors)
    func server(vector: Vector) throws {
        var server = SCRAMServer(algorithm: vector.algorithm)
        let username = try server.receiveClientFirst(SCRAMTest.bytes(vector.clientFirst))
        #expect(username == "user")
        #expect(server.authorizationIdentity == nil)
        let serverFirst = server.serverFirst(credentials: try Self.credentials(vector), serverNonce: vector.serverNoncePart)
        #expect(SCRAMTest.text(serverFirst) == vector.serverFirst)
        let serverFinal = try server.receiveClientFinal(SCRAMTest.bytes(vector.clientFinal))
        #expect(SCRAMTest.text(serverFinal) == vector.serverFinal)
        #expect(server.isAuthenticated)
    }

    @Test("client side reproduces the RFC exchange", arguments: vectors)
    func client(vector: Vector) throws {
        var client = SCRAMClient(
            algorithm: vector.algorithm, username: "user", password: "pencil", clientNonce: vector.clientNonce)
        #expect(SCRAMTest.text(client.clientFirst()) == vector.clientFirst)
        let clientFinal = try client.receiveServerFirst(SCRAMTest.bytes(vector.serverFirst))
        #expect(SCRAMTest.text(clientFinal) == vector.clientFinal)
        try client.receiveServerFinal(SCRAMTest.bytes(vector.serverFinal))
        #expect(client.isAuthenticated)
    }

    @Test("server rejects the RFC proof when the stored password differs", arguments: vectors)
    func serverWrongPassword(vector: Vector) throws {
        var server = SCRAMServer(algorithm: vector.algorithm)
        _ = try server.receiveClientFirst(SCRAMTest.bytes(vector.clientFirst))
        _ = server.serverFirst(credentials: try Self.credentials(vector, password: "pencil2"), serverNonce: vector.serverNoncePart)
        let error = SCRAMTest.saslError { () throws(SASLError) in try server.receiveClientFinal(SCRAMTest.bytes(vector.clientFinal)) }
        #expect(error?.condition == .notAuthorized)
        #expect(!server.isAuthenticated)
    }

    @Test("client rejects a forged server signature and server-reported errors", arguments: vectors)
    func clientRejectsBadServerFinal(vector: Vector) throws {
        for bad in ["v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", "e=invalid-proof", "v=", "v=!!", "x", ""] {
            guard bad != vector.serverFinal else { continue }
            var client = SCRAMClient(
                algorithm: vector.algorithm, username: "user", password: "pencil", clientNonce: vector.clientNonce)
            _ = try client.receiveServerFirst(SCRAMTest.bytes(vector.serverFirst))
            let error = SCRAMTest.saslError { () throws(SASLError) in try client.receiveServerFinal(SCRAMTest.bytes(bad)) }
            #expect(error != nil, "accepted \(bad)")
            #expect(!client.isAuthenticated)
        }
    }

    @Test("credentials derived with the RFC salt verify the RFC password", arguments: vectors)
    func credentialsVerify(vector: Vector) throws {
        let credentials = try Self.credentials(vector)
        #expect(credentials.verifies(plainPassword: "pencil"))
        #expect(!credentials.verifies(plainPassword: "pencil "))
        #expect(credentials.storedKey.count == vector.algorithm.digestByteCount)
    }
}
