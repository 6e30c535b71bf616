/// The on-disk format of a snapshot file, `snapshot-<sequence as 20 digits>.snap`. Pure.
///
/// ```
/// offset  size  field
///      0     8  magic     ASCII "MMGSSNAP"
///      8     4  version   u32 little-endian, currently 1
///     12     8  sequence  u64 little-endian: the state covers every record with sequence <= this
///     20     8  length    u64 little-endian: the number of state bytes that follow the header
///     28     4  crc       u32 little-endian: CRC-32C of bytes 0 ..< 28 followed by the state
///                         (i.e. the whole file except this field)
///     32     n  state     the caller's bytes, n = length
/// ```
///
/// Why: a snapshot replaces records that compaction deletes, so it must prove itself intact before
/// it is trusted; the CRC covers the header too, so a damaged sequence or length cannot pass. The
/// sequence is repeated from the file name so a renamed or copied file is caught. Snapshots are
/// written to `<name>.tmp`, fsynced, renamed and the directory fsynced, so a crash leaves either
/// the old set of snapshots or the new one, never a half-written file under the final name.
public enum SnapshotFormat {
    public static let magic: [UInt8] = Array("MMGSSNAP".utf8)
    public static let version: UInt32 = 1
    public static let headerBytes = 32

    /// The header for `state` at `sequence`; the state bytes follow it in the file. Separate from
    /// the state so a large state is not copied just to prepend 32 bytes.
    public static func header(sequence: UInt64, state: [UInt8]) -> [UInt8] {
        var header = magic
        header.appendLittleEndian(version)
        header.appendLittleEndian(sequence)
        header.appendLittleEndian(UInt64(state.count))
        let crc = CRC32C.update(CRC32C.checksum(header), state)
        header.appendLittleEndian(crc)
        return header
    }

    /// A whole snapshot file's bytes (header + state).
    public static func encode(sequence: UInt64, state: [UInt8]) -> [UInt8] {
        header(sequence: sequence, state: state) + state
    }

    public enum Decoded: Sendable, Equatable {
        case snapshot(sequence: UInt64, state: [UInt8])
        /// `offset` is where the evidence is (0 for magic, 28 for the CRC, ...).
        case invalid(offset: Int, reason: String)
    }

    /// Decodes a whole snapshot file. `expectedSequence` is the sequence in the file name.
    public static func decode(_ bytes: [UInt8], expectedSequence: UInt64) -> Decoded {
        guard bytes.count >= headerBytes else {
            return .invalid(offset: bytes.count, reason: "file is \(bytes.count) bytes, shorter than the \(headerBytes)-byte snapshot header")
        }
        return bytes.withUnsafeBytes { raw -> Decoded in
            guard Array(raw[0..<8]) == magic else { return .invalid(offset: 0, reason: "bad magic (not a snapshot file)") }
            let version = raw.loadLittleEndianUInt32(at: 8)
            guard version == Self.version else {
                return .invalid(offset: 8, reason: "unsupported snapshot version \(version) (this build reads \(Self.version))")
            }
            let sequence = raw.loadLittleEndianUInt64(at: 12)
            let length = raw.loadLittleEndianUInt64(at: 20)
            let stored = raw.loadLittleEndianUInt32(at: 28)
            var crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<28]))
            crc = CRC32C.update(crc, UnsafeRawBufferPointer(rebasing: raw[headerBytes...]))
            guard length == UInt64(bytes.count - headerBytes) else {
                return .invalid(offset: 20, reason: "header says \(length) state bytes but the file holds \(bytes.count - headerBytes)")
            }
            guard crc == stored else {
                return .invalid(offset: 28, reason: "CRC mismatch (stored \(hex(stored)), computed \(hex(crc)))")
            }
            guard sequence == expectedSequence else {
                return .invalid(offset: 12, reason: "header sequence \(sequence) differs from the file name's \(expectedSequence)")
            }
            return .snapshot(sequence: sequence, state: Array(UnsafeRawBufferPointer(rebasing: raw[headerBytes...])))
        }
    }
}
