/// Small byte helpers shared by the SASL mechanisms. Internal: they are implementation details.
enum SASLBytes {
    /// Compares two byte strings without an early exit, so the time taken does not reveal how many
    /// leading bytes of a guessed key or proof were right. Only the lengths (public anyway, they are
    /// digest sizes) can end the comparison early.
    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }

    /// Byte-wise XOR of two equal-length strings (ClientProof = ClientKey XOR ClientSignature).
    static func xor(_ lhs: [UInt8], _ rhs: [UInt8]) -> [UInt8] {
        precondition(lhs.count == rhs.count, "XOR of keys of different lengths")
        return zip(lhs, rhs).map { $0 ^ $1 }
    }

    /// Cryptographically secure random bytes. `SystemRandomNumberGenerator` is the OS CSPRNG
    /// (`getrandom` on Linux, `arc4random` on Darwin) and is safe to use from any thread.
    static func random(count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// A fresh SCRAM nonce: 18 random bytes in base64, i.e. 24 printable characters without ','
    /// (the base64 alphabet has no comma), 144 bits of entropy.
    static func randomNonce() -> String {
        SASLBase64.encode(random(count: 18))
    }

    /// Whether `value` is a valid SCRAM nonce: non-empty `printable` (RFC 5802 §7: %x21-2B / %x2D-7E).
    static func isValidNonce<Bytes: Collection>(_ value: Bytes) -> Bool where Bytes.Element == UInt8 {
        !value.isEmpty && value.allSatisfy { (0x21...0x7E).contains($0) && $0 != UInt8(ascii: ",") }
    }
}
