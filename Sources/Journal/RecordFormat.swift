/// The on-disk format of one journal record. Pure: no I/O, so every decision about a byte string is
/// testable without files.
///
/// A segment file is a plain concatenation of records, with no file header (a segment's first
/// sequence number is in its name), so a replica can stream records byte for byte. Each record:
///
/// ```
/// offset  size  field
///      0     4  length    u32 little-endian: the number of bytes after the CRC field,
///                         i.e. 1 (kind) + 8 (sequence) + payload count; so 9 ... 9 + 16 MiB
///      4     4  crc       u32 little-endian: CRC-32C (Castagnoli) of bytes 8 ..< 8 + length,
///                         i.e. of kind, sequence and payload
///      8     1  kind      the caller's record type, 0 ... 255
///      9     8  sequence  u64 little-endian: 1 for the first record ever, +1 per record
///     17     n  payload   the caller's bytes, n = length - 9
/// ```
///
/// Why this shape:
/// - The length comes first so a reader knows how many bytes to wait for (a replica reading a
///   stream, or recovery deciding whether the tail of a file is an incomplete record).
/// - The length is not covered by the CRC (it cannot be, it says what the CRC covers), so it is
///   bounded instead: anything below 9 or above 9 + `maxPayloadBytes` is impossible and marks
///   corruption rather than "wait for more bytes".
/// - The sequence number is inside the checksummed part, so a record is self-describing: a replica
///   or recovery can verify it is applying record N+1 after N, and detect gaps and repeats.
/// - Little-endian fixed-width integers: trivial to decode from any offset, and native on every
///   machine we run on.
public enum RecordFormat {
    /// Bytes before the checksummed part: length (4) and CRC (4).
    public static let prefixBytes = 8
    /// Checksummed bytes before the payload: kind (1) and sequence (8).
    public static let fixedBodyBytes = 9
    /// `prefixBytes + fixedBodyBytes`: the size of a record with an empty payload.
    public static let headerBytes = 17
    /// The largest payload a record may carry (16 MiB). Part of the format: a length field above
    /// `fixedBodyBytes + maxPayloadBytes` is treated as corruption.
    public static let maxPayloadBytes = 16 << 20

    /// The encoded size of a record with a payload of `payloadCount` bytes.
    public static func encodedSize(payloadCount: Int) -> Int { headerBytes + payloadCount }

    /// Appends the encoding of one record to `buffer`. The payload must be at most
    /// `maxPayloadBytes` (checked by the caller, which reports it as a `JournalError`).
    public static func encode(kind: UInt8, sequence: UInt64, payload: [UInt8], into buffer: inout [UInt8]) {
        precondition(payload.count <= maxPayloadBytes, "payload exceeds RecordFormat.maxPayloadBytes")
        let start = buffer.count
        buffer.appendLittleEndian(UInt32(fixedBodyBytes + payload.count))
        buffer.appendLittleEndian(UInt32(0))  // CRC placeholder, filled in below
        buffer.append(kind)
        buffer.appendLittleEndian(sequence)
        buffer.append(contentsOf: payload)
        let crc = buffer.withUnsafeBytes { all in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: all[(start + prefixBytes)...]))
        }
        buffer.storeLittleEndian(crc, at: start + 4)
    }

    /// The encoding of one record.
    public static func encode(_ record: JournalRecord) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(encodedSize(payloadCount: record.payload.count))
        encode(kind: record.kind, sequence: record.sequence, payload: record.payload, into: &buffer)
        return buffer
    }

    /// What the bytes at an offset are.
    public enum Decoded: Sendable, Equatable {
        /// A complete record whose checksum matches, taking `size` bytes.
        case record(JournalRecord, size: Int)
        /// The bytes end inside a record whose length field is plausible (or inside the length
        /// field itself): either a record still being written/received, or a torn write.
        case needMore
        /// The bytes cannot be a record: impossible length, or checksum mismatch. `reason` is
        /// the evidence, for error messages.
        case corrupt(reason: String)
    }

    /// Decodes the record starting at `offset` of `bytes`. Never traps on any input.
    public static func decode(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Decoded {
        let available = bytes.count - offset
        guard offset >= 0, available >= 0 else { return .needMore }
        // The length field alone lets us reject impossible lengths before waiting for more bytes.
        guard available >= 4 else { return .needMore }
        let length = Int(bytes.loadLittleEndianUInt32(at: offset))
        guard length >= fixedBodyBytes, length <= fixedBodyBytes + maxPayloadBytes else {
            return .corrupt(reason: "impossible record length \(length) (must be \(fixedBodyBytes)...\(fixedBodyBytes + maxPayloadBytes))")
        }
        guard available >= prefixBytes + length else { return .needMore }
        let stored = bytes.loadLittleEndianUInt32(at: offset + 4)
        let body = UnsafeRawBufferPointer(rebasing: bytes[(offset + prefixBytes)..<(offset + prefixBytes + length)])
        let computed = CRC32C.checksum(body)
        guard stored == computed else {
            return .corrupt(reason: "CRC mismatch (stored \(hex(stored)), computed \(hex(computed)), record length \(length))")
        }
        let kind = body[0]
        let sequence = body.loadLittleEndianUInt64(at: 1)
        let payload = Array(UnsafeRawBufferPointer(rebasing: body[fixedBodyBytes...]))
        return .record(JournalRecord(kind: kind, sequence: sequence, payload: payload), size: prefixBytes + length)
    }

    /// Decodes the record starting at `offset` of `bytes`.
    public static func decode(_ bytes: [UInt8], at offset: Int = 0) -> Decoded {
        bytes.withUnsafeBytes { decode($0, at: offset) }
    }

    /// Whether a valid record whose sequence is in `sequences` starts at `offset`: the length is
    /// plausible, the record fits, the sequence is in range, and the checksum matches. Used to
    /// decide whether anything valid follows a damaged record; the sequence check comes before the
    /// checksum so scanning garbage or zeros byte by byte stays cheap and random data practically
    /// never passes.
    static func isValidRecord(_ bytes: UnsafeRawBufferPointer, at offset: Int, sequences: ClosedRange<UInt64>) -> Bool {
        guard bytes.count - offset >= headerBytes else { return false }
        let length = Int(bytes.loadLittleEndianUInt32(at: offset))
        guard length >= fixedBodyBytes, length <= fixedBodyBytes + maxPayloadBytes,
              bytes.count - offset >= prefixBytes + length else { return false }
        guard sequences.contains(bytes.loadLittleEndianUInt64(at: offset + 9)) else { return false }
        let body = UnsafeRawBufferPointer(rebasing: bytes[(offset + prefixBytes)..<(offset + prefixBytes + length)])
        return CRC32C.checksum(body) == bytes.loadLittleEndianUInt32(at: offset + 4)
    }
}

func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}

extension [UInt8] {
    mutating func appendLittleEndian(_ value: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    mutating func appendLittleEndian(_ value: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    mutating func storeLittleEndian(_ value: UInt32, at offset: Int) {
        for index in 0..<4 { self[offset + index] = UInt8(truncatingIfNeeded: value >> UInt32(8 * index)) }
    }
}

extension UnsafeRawBufferPointer {
    /// Byte-wise, so any alignment is fine.
    func loadLittleEndianUInt32(at offset: Int) -> UInt32 {
        var value: UInt32 = 0
        for index in 0..<4 { value |= UInt32(self[offset + index]) << UInt32(8 * index) }
        return value
    }

    func loadLittleEndianUInt64(at offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(self[offset + index]) << UInt64(8 * index) }
        return value
    }
}
