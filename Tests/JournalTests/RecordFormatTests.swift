import Testing
@testable import Journal

/// Bit-at-a-time CRC-32C, the definition the table-driven one must match.
private func referenceCRC32C(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
    }
    return ~crc
}

@Suite struct CRC32CTests {
    @Test func standardVector() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        // RFC 3720 (iSCSI) B.4: 32 bytes of zeros, and 32 bytes of 0xFF.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    }

    @Test func matchesBitwiseDefinitionAndComposes() {
        var generator = SystemRandomNumberGenerator()
        for length in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4099] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(CRC32C.checksum(bytes) == referenceCRC32C(bytes), "length \(length)")
            let split = length / 3
            #expect(CRC32C.update(CRC32C.checksum(bytes[..<split]), bytes[split...]) == CRC32C.checksum(bytes))
        }
    }
}

@Suite struct RecordFormatTests {
    @Test func layoutIsAsDocumented() {
        let bytes = RecordFormat.encode(JournalRecord(kind: 7, sequence: 0x0102_0304_0506_0708, payload: [0xAA, 0xBB]))
        #expect(bytes.count == 17 + 2)
        #expect(Array(bytes[0..<4]) == [11, 0, 0, 0])  // length: 1 + 8 + 2, little-endian
        let crc = CRC32C.checksum(bytes[8...])
        #expect(Array(bytes[4..<8]) == [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24)])
        #expect(bytes[8] == 7)
        #expect(Array(bytes[9..<17]) == [8, 7, 6, 5, 4, 3, 2, 1])
        #expect(Array(bytes[17...]) == [0xAA, 0xBB])
    }

    @Test func roundTrip() {
        for (index, size) in [0, 1, 100, 65_536].enumerated() {
            let record = JournalRecord(kind: UInt8(index * 80), sequence: UInt64(index) + 1, payload: payload(index, size: size))
            let bytes = RecordFormat.encode(record)
            #expect(RecordFormat.decode(bytes) == .record(record, size: bytes.count))
            // Decoding at an offset inside a larger buffer.
            let framed = [1, 2, 3] + bytes + [9, 9]
            #expect(RecordFormat.decode(framed, at: 3) == .record(record, size: bytes.count))
        }
        // Every kind value survives.
        for kind in UInt8.min...UInt8.max {
            let record = JournalRecord(kind: kind, sequence: 42, payload: [kind])
            #expect(RecordFormat.decode(RecordFormat.encode(record)) == .record(record, size: 18))
        }
    }

    @Test func truncatedAtEveryOffsetNeedsMore() {
        let bytes = RecordFormat.encode(JournalRecord(kind: 1, sequence: 9, payload: payload(9, size: 50)))
        for cut in 0..<bytes.count {
            #expect(RecordFormat.decode(Array(bytes[..<cut])) == .needMore, "cut at \(cut)")
        }
        // Past the end: no crash either.
        #expect(RecordFormat.decode(bytes, at: bytes.count + 5) == .needMore)
    }

    @Test func impossibleLengthsAndFlippedBytesAreCorrupt() {
        var tooShort = RecordFormat.encode(JournalRecord(kind: 1, sequence: 1, payload: []))
        tooShort[0] = 8
        guard case .corrupt(let reason) = RecordFormat.decode(tooShort) else { Issue.record("length 8 accepted"); return }
        #expect(reason.contains("impossible record length 8"))
        var tooLong = tooShort
        tooLong.replaceSubrange(0..<4, with: [0xFF, 0xFF, 0xFF, 0x7F])
        guard case .corrupt = RecordFormat.decode(tooLong) else { Issue.record("huge length accepted"); return }
        #expect(RecordFormat.decode([0, 0, 0, 0]) != .needMore)  // zeros: corrupt at once

        let good = RecordFormat.encode(JournalRecord(kind: 3, sequence: 5, payload: payload(5, size: 40)))
        for index in 4..<good.count {  // every byte after the length field is covered by the CRC
            var bad = good
            bad[index] ^= 0x01
            guard case .corrupt(let reason) = RecordFormat.decode(bad) else {
                Issue.record("flipped byte \(index) not detected")
                continue
            }
            #expect(reason.contains("CRC mismatch"))
        }
    }

    @Test func fileNamesSortAndParse() {
        #expect(FileNames.segment(firstSequence: 1) == "journal-00000000000000000001.log")
        #expect(FileNames.snapshot(sequence: UInt64.max) == "snapshot-18446744073709551615.snap")
        #expect(FileNames.parseSegment("journal-00000000000000001234.log") == 1234)
        #expect(FileNames.parseSegment("journal-1234.log") == nil)
        #expect(FileNames.parseSnapshot("snapshot-00000000000000000077.snap") == 77)
        #expect(FileNames.parseSnapshot("snapshot-00000000000000000077.snap.tmp") == nil)
    }
}

@Suite struct SnapshotFormatTests {
    @Test func roundTripAndDamage() {
        let state = payload(1, size: 300)
        let bytes = SnapshotFormat.encode(sequence: 77, state: state)
        #expect(bytes.count == 32 + 300)
        #expect(SnapshotFormat.decode(bytes, expectedSequence: 77) == .snapshot(sequence: 77, state: state))
        #expect(SnapshotFormat.decode(SnapshotFormat.encode(sequence: 1, state: []), expectedSequence: 1) == .snapshot(sequence: 1, state: []))
        // Named for another sequence.
        guard case .invalid(12, _) = SnapshotFormat.decode(bytes, expectedSequence: 78) else { Issue.record("rename not caught"); return }
        // Every single-byte flip, every truncation: invalid, never a crash.
        for index in 0..<bytes.count {
            var bad = bytes
            bad[index] ^= 0x10
            guard case .invalid = SnapshotFormat.decode(bad, expectedSequence: 77) else { Issue.record("flip at \(index) accepted"); continue }
        }
        for cut in 0..<bytes.count {
            guard case .invalid = SnapshotFormat.decode(Array(bytes[..<cut]), expectedSequence: 77) else { Issue.record("cut at \(cut) accepted"); continue }
        }
    }
}
