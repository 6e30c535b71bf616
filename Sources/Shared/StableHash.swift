/// A 64-bit hash that is the same in every process, on every machine, in every release.
///
/// Swift's `Hasher` is seeded per process, so it must never decide placement: two nodes would
/// disagree on the owner of a key. This is FNV-1a over the bytes, finished with the MurmurHash3
/// `fmix64` avalanche so that keys differing in one trailing byte still land far apart.
public enum StableHash {
    @inlinable
    public static func hash64<Bytes: Sequence>(_ bytes: Bytes, seed: UInt64 = 0) -> UInt64 where Bytes.Element == UInt8 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ seed
        for byte in bytes {
            h ^= UInt64(byte)
            h &*= 0x0000_0100_0000_01b3
        }
        return mix(h)
    }

    @inlinable
    public static func hash64(_ string: String, seed: UInt64 = 0) -> UInt64 {
        hash64(string.utf8, seed: seed)
    }

    /// MurmurHash3's 64-bit finaliser: every input bit affects every output bit.
    @inlinable
    public static func mix(_ value: UInt64) -> UInt64 {
        var k = value
        k ^= k >> 33
        k &*= 0xff51_afd7_ed55_8ccd
        k ^= k >> 33
        k &*= 0xc4ce_b9fe_1a85_ec53
        k ^= k >> 33
        return k
    }

    /// Combines two hashes (for rendezvous scores: node × partition).
    @inlinable
    public static func combine(_ a: UInt64, _ b: UInt64) -> UInt64 {
        mix(a ^ (b &+ 0x9e37_79b9_7f4a_7c15 &+ (a << 6) &+ (a >> 2)))
    }
}
