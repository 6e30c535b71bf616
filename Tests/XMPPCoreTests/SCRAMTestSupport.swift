@testable import XMPPCore

/// Helpers shared by the SCRAM/SASL tests.
enum SCRAMTest {
    static func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }
    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    /// Runs `body` and returns the SASLError it threw, or nil if it did not throw.
    static func saslError<T>(_ body: () throws(SASLError) -> T) -> SASLError? {
        do {
            _ = try body()
            return nil
        } catch {
            return error
        }
    }

    /// A small deterministic PRNG (SplitMix64) so fuzz-style tests are reproducible.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// A full client/server exchange; returns the server's error, or nil on mutual success.
    static func exchange(
        algorithm: SCRAMAlgorithm, username: String, password: String,
        credentials: SCRAMCredentials?, minimumIterations: Int = 4096
    ) throws -> SASLError? {
        var client = SCRAMClient(
            algorithm: algorithm, username: username, password: password, minimumIterations: minimumIterations)
        var server = SCRAMServer(algorithm: algorithm)
        do {
            let name = try server.receiveClientFirst(client.clientFirst())
            let stored = credentials ?? SCRAMServer.decoyCredentials(for: name, algorithm: algorithm)
            let serverFirst = server.serverFirst(credentials: stored)
            let clientFinal = try client.receiveServerFirst(serverFirst)
            let serverFinal = try server.receiveClientFinal(clientFinal)
            try client.receiveServerFinal(serverFinal)
            return nil
        } catch {
            return error
        }
    }
}
