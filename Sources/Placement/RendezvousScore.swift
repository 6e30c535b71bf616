import MMGSShared

/// Weighted rendezvous (highest-random-weight) scoring.
///
/// Each (node, partition) pair gets `u` uniform in (0, 1) from `StableHash`, and the node's
/// cost is `-ln(u) / weight`, an exponential variable with rate `weight`. The node with the
/// *lowest* cost wins (equivalently the highest `-weight / ln(u)` score), so node `i` wins
/// with probability `weight_i / totalWeight`, and adding or removing a node only changes
/// the winner of partitions that node wins or held — the minimal-disruption property.
///
/// Everything here is integer arithmetic plus IEEE-754 `+ - * /`, which are bit-exact on
/// every platform. The logarithm is therefore computed in pure Swift instead of calling the
/// C library's `log`: glibc and Darwin's libm may differ in the last ulp, and a one-ulp
/// difference could flip a near-tie and make two processes disagree on an owner.
@usableFromInline
enum Rendezvous {
    /// Hash of a partition index, the second input to `StableHash.combine`.
    /// Offset so partition 0 does not hash to `mix(0) == 0`.
    @inlinable
    static func partitionSeed(_ partition: Int) -> UInt64 {
        StableHash.mix(UInt64(truncatingIfNeeded: partition) &+ 0x5bd1_e995_2f4e_8a3d)
    }

    /// Hash of a node name, the first input to `StableHash.combine`. Precomputed per node.
    @inlinable
    static func nodeSeed(_ name: String) -> UInt64 {
        StableHash.hash64(name)
    }

    /// The cost of `node` for `partition` (lower wins). Finite and > 0.
    @inlinable
    static func cost(nodeSeed: UInt64, partitionSeed: UInt64, weight: Double) -> Double {
        let h = StableHash.combine(nodeSeed, partitionSeed)
        // Top 53 bits, centred in their bucket: u ∈ [2^-54, 1 - 2^-54], never 0 or 1.
        let u = (Double(h >> 11) + 0.5) * 0x1p-53
        return negativeLog(u) / weight
    }

    /// `-ln(u)` for `u` in (0, 1), deterministic across platforms (see the type's comment).
    ///
    /// Writes `u = m · 2^e` with `m ∈ [√½, √2)`, then `ln u = e·ln2 + 2·atanh(s)` with
    /// `s = (m-1)/(m+1)`, `|s| ≤ 0.172`; twelve terms of the atanh series reach full
    /// double precision.
    @inlinable
    static func negativeLog(_ u: Double) -> Double {
        var m = u.significand            // [1, 2), exact
        var e = Double(Int(u.exponent))  // exact
        if m > 1.414_213_562_373_095_1 {
            m *= 0.5                     // exact
            e += 1
        }
        let s = (m - 1) / (m + 1)
        let z = s * s
        // 1 + z/3 + z²/5 + … + z¹¹/23, Horner form.
        var series = 1.0 / 23.0
        series = series * z + 1.0 / 21.0
        series = series * z + 1.0 / 19.0
        series = series * z + 1.0 / 17.0
        series = series * z + 1.0 / 15.0
        series = series * z + 1.0 / 13.0
        series = series * z + 1.0 / 11.0
        series = series * z + 1.0 / 9.0
        series = series * z + 1.0 / 7.0
        series = series * z + 1.0 / 5.0
        series = series * z + 1.0 / 3.0
        series = series * z + 1.0
        let ln2Hi = 0.693_147_180_369_123_8    // ln 2 split so e·ln2Hi is exact
        let ln2Lo = 1.908_214_929_270_587_7e-10
        let lnU = (e * ln2Hi) + ((e * ln2Lo) + 2 * s * series)
        return -lnU
    }
}
