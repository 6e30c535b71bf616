import Testing
@testable import MMGSShared

/// Golden values: `StableHash` decides placement, so every node of every release must compute the
/// same value. If one of these fails, the hash changed and keys would move on upgrade: that is a
/// protocol change, not a test to update.
@Suite("Stable hash")
struct StableHashTests {
    @Test("golden values of strings", arguments: [
        ("", 0xefd0_1f60_ba99_2926 as UInt64),
        ("a", 0x82a2_a958_a9be_ce5b),
        ("b", 0x6e67_3288_764a_d2d0),
        ("frontend-1", 0x2ea6_c92d_1761_2206),
        ("user@mmgs.local", 0x3005_0059_fd46_d4a3),
        ("héllo", 0xc185_4127_47a0_264d),
        ("日本", 0x1230_c550_89fe_4e43),
    ])
    func strings(text: String, expected: UInt64) {
        #expect(StableHash.hash64(text) == expected)
        #expect(StableHash.hash64(Array(text.utf8)) == expected, "a string hashes as its UTF-8 bytes")
    }

    @Test("golden values with a seed and of raw bytes")
    func seedsAndBytes() {
        #expect(StableHash.hash64("frontend-1", seed: 42) == 0xd256_c061_d126_e89c)
        #expect(StableHash.hash64("", seed: 0xdead_beef) == 0x28f8_9577_a630_8d57)
        #expect(StableHash.hash64([0, 1, 2, 255] as [UInt8]) == 0xb636_ac73_d898_9741)
        #expect(StableHash.hash64("frontend-1", seed: 1) != StableHash.hash64("frontend-1"))
    }

    @Test("golden values of mix and combine")
    func mixAndCombine() {
        #expect(StableHash.mix(0) == 0)
        #expect(StableHash.mix(1) == 0xb456_bcfc_34c2_cb2c)
        #expect(StableHash.mix(UInt64.max) == 0x64b5_720b_4b82_5f21)
        #expect(StableHash.combine(1, 2) == 0xf912_2d60_5114_4cc9)
        #expect(StableHash.combine(StableHash.hash64("router-1"), 7) == 0x588a_667c_d71e_f7cb)
    }

    @Test("keys that differ in one trailing byte land far apart")
    func avalanche() {
        let a = StableHash.hash64("user-1000"), b = StableHash.hash64("user-1001")
        #expect((a ^ b).nonzeroBitCount >= 16)
    }
}

@Suite("Node role")
struct NodeRoleTests {
    @Test("wire values are stable and round-trip", arguments: zip(NodeRole.allCases, [1, 2, 3, 4] as [UInt8]))
    func wireValues(role: NodeRole, wire: UInt8) {
        #expect(role.wireValue == wire)
        #expect(NodeRole(wireValue: wire) == role)
    }

    @Test("unknown wire values are refused")
    func unknownWire() {
        #expect(NodeRole(wireValue: 0) == nil)
        #expect(NodeRole(wireValue: 5) == nil)
    }

    @Test("executable names")
    func executables() {
        #expect(NodeRole.allCases.map(\.executableName) == ["mmgs-topology", "mmgs-frontend", "mmgs-router", "mmgs-transport"])
    }
}
