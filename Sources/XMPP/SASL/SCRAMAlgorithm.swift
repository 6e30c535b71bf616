import Crypto
import _CryptoExtras

/// The hash function behind a SCRAM mechanism (RFC 5802 §2.2 `H`/`HMAC`/`Hi`, RFC 7677).
///
/// An enum rather than a generic parameter over `HashFunction` so that credentials, server and client
/// are plain values that can be stored, compared and chosen at run time from the mechanism name.
public enum SCRAMAlgorithm: String, Sendable, Hashable, CaseIterable {
    /// SCRAM-SHA-1 (RFC 5802): still the one every XMPP client implements.
    case sha1
    /// SCRAM-SHA-256 (RFC 7677): preferred when the client offers it.
    case sha256

    /// The IANA SASL mechanism name, as advertised in `<mechanisms>` and sent in `<auth mechanism=…>`.
    public var mechanismName: String {
        switch self {
        case .sha1: "SCRAM-SHA-1"
        case .sha256: "SCRAM-SHA-256"
        }
    }

    /// Looks an algorithm up by its mechanism name (exact, case-sensitive, as RFC 4422 §3.1 names are).
    /// The `-PLUS` variants return `nil`: this module does not implement channel binding.
    public init?(mechanismName: String) {
        guard let match = Self.allCases.first(where: { $0.mechanismName == mechanismName }) else { return nil }
        self = match
    }

    /// Output length of `H` and `HMAC`, which is also the length of every SCRAM key and proof.
    public var digestByteCount: Int {
        switch self {
        case .sha1: Insecure.SHA1.byteCount
        case .sha256: SHA256.byteCount
        }
    }

    /// `H(data)`.
    public func hash(_ data: [UInt8]) -> [UInt8] {
        switch self {
        case .sha1: Array(Insecure.SHA1.hash(data: data))
        case .sha256: Array(SHA256.hash(data: data))
        }
    }

    /// `HMAC(key, data)`.
    public func hmac(key: [UInt8], data: [UInt8]) -> [UInt8] {
        let symmetricKey = SymmetricKey(data: key)
        switch self {
        case .sha1: return Array(HMAC<Insecure.SHA1>.authenticationCode(for: data, using: symmetricKey))
        case .sha256: return Array(HMAC<SHA256>.authenticationCode(for: data, using: symmetricKey))
        }
    }

    /// `Hi(password, salt, i)`, i.e. PBKDF2 with this HMAC and an output of one digest.
    ///
    /// Uses `unsafeUncheckedRounds` on purpose: the checked entry point insists on ≥ 210 000 rounds,
    /// while SCRAM's interoperable default (and the RFC test vectors) is 4096. Bounds that BoringSSL
    /// itself does not check (it takes the count as `UInt32` and dereferences the buffers
    /// unconditionally) are enforced here, so hostile input cannot trap the process.
    func saltedPassword(normalizedPassword: [UInt8], salt: [UInt8], iterations: Int) throws(SCRAMCredentialsError) -> [UInt8] {
        guard !normalizedPassword.isEmpty else { throw .invalidPassword("password is empty") }
        guard !salt.isEmpty else { throw .invalidSalt }
        guard SCRAMCredentials.iterationRange.contains(iterations) else { throw .invalidIterations(iterations) }
        let function: KDF.Insecure.PBKDF2.HashFunction = switch self {
        case .sha1: .insecureSHA1
        case .sha256: .sha256
        }
        do {
            let key = try KDF.Insecure.PBKDF2.deriveKey(
                from: normalizedPassword, salt: salt, using: function,
                outputByteCount: digestByteCount, unsafeUncheckedRounds: iterations)
            return key.withUnsafeBytes { Array($0) }
        } catch {
            throw .derivationFailed
        }
    }
}
