import Synchronization
import XMPPCore

/// A SCRAM client (RFC 5802, no channel binding) that caches the PBKDF2 result per
/// (mechanism, password, salt, iterations).
///
/// Why not only XMPPCore's ``SCRAMClient``: SCRAM puts the expensive key derivation on the
/// client (the server keeps derived keys), so a generator that derives on every login spends
/// ~0.5 ms of CPU per login and becomes the bottleneck of a login storm — measuring itself, not
/// the server. Devices provisioned in bulk share one salt (`mmgsctl device import` derives one
/// credential), so after the first login every derivation is a cache hit. The exchange is
/// otherwise the same and is tested against XMPPCore's ``SCRAMServer``. Passwords that are not
/// printable ASCII (where SASLprep could change them) use ``SCRAMClient`` instead.
struct CachedSCRAMClient: Sendable {
    let algorithm: SCRAMAlgorithm
    private let password: [UInt8]
    private let clientNonce: [UInt8]
    private let clientFirstBare: [UInt8]
    private let minimumIterations: Int
    private var expectedServerSignature: [UInt8]?
    private let cache: SaltedKeyCache
    private static let gs2Header = Array("n,,".utf8)

    /// nil when the password needs SASLprep (use ``SCRAMClient``).
    init?(algorithm: SCRAMAlgorithm, username: String, password: String, clientNonce: String?, minimumIterations: Int,
          cache: SaltedKeyCache = .shared) {
        guard !password.isEmpty, password.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else { return nil }
        self.algorithm = algorithm
        self.cache = cache
        self.password = Array(password.utf8)
        self.minimumIterations = minimumIterations
        let nonce = clientNonce ?? SASLBase64.encode((0..<18).map { _ in UInt8.random(in: 0 ... 255) })
        self.clientNonce = Array(nonce.utf8)
        var escaped: [UInt8] = []
        for byte in username.utf8 {
            switch byte {
            case UInt8(ascii: ","): escaped += Array("=2C".utf8)
            case UInt8(ascii: "="): escaped += Array("=3D".utf8)
            default: escaped.append(byte)
            }
        }
        clientFirstBare = Array("n=".utf8) + escaped + Array(",r=".utf8) + self.clientNonce
    }

    func clientFirst() -> [UInt8] { Self.gs2Header + clientFirstBare }

    /// server-first → client-final (with the proof).
    mutating func receiveServerFirst(_ message: [UInt8]) throws(SASLError) -> [UInt8] {
        let fields = message.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
        guard fields.count >= 3, let nonce = Self.value("r", fields[0]), let saltText = Self.value("s", fields[1]),
              let iterationText = Self.value("i", fields[2]) else {
            throw SASLError(.malformedRequest, "server-first-message: expected r=,s=,i=")
        }
        guard nonce.count > clientNonce.count, nonce.starts(with: clientNonce) else {
            throw SASLError(.notAuthorized, "server nonce does not extend the client nonce")
        }
        guard let salt = SASLBase64.decode(saltText), !salt.isEmpty else { throw SASLError(.malformedRequest, "invalid salt") }
        guard let iterations = Int(String(decoding: iterationText, as: UTF8.self)), iterations > 0,
              iterations <= SCRAMCredentials.iterationRange.upperBound else {
            throw SASLError(.malformedRequest, "invalid iteration count")
        }
        guard iterations >= minimumIterations else {
            throw SASLError(.mechanismTooWeak, "iteration count \(iterations) is below \(minimumIterations)")
        }
        let keys = cache.keys(algorithm: algorithm, password: password, salt: salt, iterations: iterations)
        let withoutProof = Array("c=".utf8) + Array(SASLBase64.encode(Self.gs2Header).utf8) + Array(",r=".utf8) + Array(nonce)
        let authMessage = clientFirstBare + [UInt8(ascii: ",")] + message + [UInt8(ascii: ",")] + withoutProof
        let signature = algorithm.hmac(key: keys.storedKey, data: authMessage)
        let proof = zip(keys.clientKey, signature).map { $0 ^ $1 }
        expectedServerSignature = algorithm.hmac(key: keys.serverKey, data: authMessage)
        return withoutProof + Array(",p=".utf8) + Array(SASLBase64.encode(proof).utf8)
    }

    /// Verifies `v=ServerSignature`: only a server that knows the credentials can produce it.
    mutating func receiveServerFinal(_ message: [UInt8]) throws(SASLError) {
        guard let expected = expectedServerSignature else { throw SASLError(.malformedRequest, "unexpected server-final-message") }
        expectedServerSignature = nil
        let first = message.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).first ?? []
        if let error = Self.value("e", first) {
            throw SASLError(.notAuthorized, "server error: \(String(decoding: error, as: UTF8.self))")
        }
        guard let value = Self.value("v", first), let signature = SASLBase64.decode(value), signature == expected else {
            throw SASLError(.notAuthorized, "server signature mismatch")
        }
    }

    private static func value(_ name: Character, _ field: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        guard field.count >= 2, field.first == name.asciiValue, field[field.startIndex + 1] == UInt8(ascii: "=") else { return nil }
        return field.dropFirst(2)
    }
}

/// ClientKey, StoredKey and ServerKey per (mechanism, password, salt, iterations), shared by
/// every event loop of the process.
final class SaltedKeyCache: Sendable {
    static let shared = SaltedKeyCache()

    struct Key: Hashable {
        var algorithm: SCRAMAlgorithm
        var password: [UInt8]
        var salt: [UInt8]
        var iterations: Int
    }

    struct Keys: Sendable {
        var clientKey: [UInt8]
        var storedKey: [UInt8]
        var serverKey: [UInt8]
    }

    private let entries = Mutex<[Key: Keys]>([:])
    /// Derivations done (cache misses), for tests and curiosity.
    let derivations = Atomic<Int>(0)
    /// Bound on entries: per-device salts (devices added one by one) must not grow memory
    /// without limit; past it the cache is simply cleared.
    static let capacity = 10_000

    func keys(algorithm: SCRAMAlgorithm, password: [UInt8], salt: [UInt8], iterations: Int) -> Keys {
        let key = Key(algorithm: algorithm, password: password, salt: salt, iterations: iterations)
        if let hit = entries.withLock({ $0[key] }) { return hit }
        let salted = Self.hi(algorithm: algorithm, password: password, salt: salt, iterations: iterations)
        let clientKey = algorithm.hmac(key: salted, data: Array("Client Key".utf8))
        let keys = Keys(clientKey: clientKey, storedKey: algorithm.hash(clientKey),
                        serverKey: algorithm.hmac(key: salted, data: Array("Server Key".utf8)))
        derivations.wrappingAdd(1, ordering: .relaxed)
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll() }
            entries[key] = keys
        }
        return keys
    }

    /// `Hi(password, salt, i)` of RFC 5802 §2.2 (PBKDF2 with one block). Runs once per distinct
    /// salt, so the plain HMAC loop is fast enough.
    static func hi(algorithm: SCRAMAlgorithm, password: [UInt8], salt: [UInt8], iterations: Int) -> [UInt8] {
        var u = algorithm.hmac(key: password, data: salt + [0, 0, 0, 1])
        var result = u
        if iterations > 1 {
            for _ in 2...iterations {
                u = algorithm.hmac(key: password, data: u)
                for index in result.indices { result[index] ^= u[index] }
            }
        }
        return result
    }
}
