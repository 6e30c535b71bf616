import Crypto

/// A compact, versioned binary form of `SCRAMCredentials` for the account store.
///
/// Layout of version 1 (all integers big-endian):
///
///     "SC"  version=1  algorithm(1=SHA-1, 2=SHA-256)  iterations:u32  saltLength:u8  salt
///     storedKey(digest bytes)  serverKey(digest bytes)  check:4 bytes
///
/// `check` is the first four bytes of SHA-256 over everything before it. It is there so that a torn
/// or bit-flipped record is rejected as corrupt instead of silently becoming "wrong password for
/// everyone"; it is not a security measure (anyone able to rewrite the record can recompute it).
/// The magic and version byte let a later format (e.g. another hash, or a peppered key) coexist.
extension SCRAMCredentials {
    private static let magic: [UInt8] = [0x53, 0x43]  // "SC"
    private static let currentVersion: UInt8 = 1
    private static let checkLength = 4

    private static func algorithmCode(_ algorithm: SCRAMAlgorithm) -> UInt8 {
        switch algorithm {
        case .sha1: 1
        case .sha256: 2
        }
    }

    private static func algorithm(code: UInt8) -> SCRAMAlgorithm? {
        switch code {
        case 1: .sha1
        case 2: .sha256
        default: nil
        }
    }

    private static func check(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        Array(SHA256.hash(data: bytes).prefix(checkLength))
    }

    /// Serialises the credentials (see the type's layout above).
    public func encode() -> [UInt8] {
        var out = Self.magic
        out.append(Self.currentVersion)
        out.append(Self.algorithmCode(algorithm))
        let count = UInt32(iterations)  // validated by init: 1...10_000_000
        out += [UInt8(count >> 24 & 0xFF), UInt8(count >> 16 & 0xFF), UInt8(count >> 8 & 0xFF), UInt8(count & 0xFF)]
        out.append(UInt8(salt.count))  // validated by init: 1...255
        out += salt
        out += storedKey
        out += serverKey
        out += Self.check(out[...])
        return out
    }

    /// Decodes a blob written by `encode()`, rejecting anything truncated, extended, of an unknown
    /// version or algorithm, with a failing checksum, or with out-of-range values.
    public init(decoding bytes: [UInt8]) throws(SCRAMCredentialsError) {
        let headerLength = Self.magic.count + 1 + 1 + 4 + 1
        guard bytes.count >= headerLength else { throw .corruptEncoding("truncated header") }
        guard Array(bytes[0..<2]) == Self.magic else { throw .corruptEncoding("not a SCRAM credentials record") }
        guard bytes[2] == Self.currentVersion else { throw .corruptEncoding("unknown version \(bytes[2])") }
        guard let algorithm = Self.algorithm(code: bytes[3]) else {
            throw .corruptEncoding("unknown algorithm \(bytes[3])")
        }
        let iterations = Int(bytes[4]) << 24 | Int(bytes[5]) << 16 | Int(bytes[6]) << 8 | Int(bytes[7])
        let saltLength = Int(bytes[8])
        let digest = algorithm.digestByteCount
        let expected = headerLength + saltLength + 2 * digest + Self.checkLength
        guard bytes.count == expected else {
            throw .corruptEncoding("length \(bytes.count), expected \(expected)")
        }
        let body = bytes[..<(expected - Self.checkLength)]
        guard SASLBytes.constantTimeEqual(Self.check(body), Array(bytes[(expected - Self.checkLength)...])) else {
            throw .corruptEncoding("checksum mismatch")
        }
        var offset = headerLength
        let salt = Array(bytes[offset..<(offset + saltLength)])
        offset += saltLength
        let storedKey = Array(bytes[offset..<(offset + digest)])
        offset += digest
        let serverKey = Array(bytes[offset..<(offset + digest)])
        do {
            try self.init(
                algorithm: algorithm, salt: salt, iterations: iterations, storedKey: storedKey, serverKey: serverKey)
        } catch {
            throw .corruptEncoding("invalid field: \(error)")
        }
    }
}
