import ETunnel
import NIOCore

/// Small codec helpers for the stanza-routing payloads: optional strings, length-prefixed
/// bytes, string lists. Everything is big-endian like the rest of eTunnel.
extension ByteBuffer {
    mutating func writeOptionalString(_ string: String?) throws(ETunnelError) {
        if let string {
            writeInteger(UInt8(1))
            try writeShortString(string)
        } else {
            writeInteger(UInt8(0))
        }
    }

    mutating func readOptionalString(field: StaticString) throws(ETunnelError) -> String? {
        let present = try readPayloadInteger(UInt8.self, field: field)
        return present == 0 ? nil : try readShortString(field: field)
    }

    /// u32 length + bytes (stanzas may exceed a u16).
    mutating func writeLongBytes(_ bytes: ByteBuffer) throws(ETunnelError) {
        try writeCount(bytes.readableBytes, as: UInt32.self, field: "bytes.length")
        var copy = bytes
        writeBuffer(&copy)
    }

    mutating func readLongBytes(field: StaticString) throws(ETunnelError) -> ByteBuffer {
        let length = try readPayloadInteger(UInt32.self, field: field)
        guard let slice = readSlice(length: Int(length)) else {
            throw ETunnelError(.badPayload, "\(field): \(length) bytes announced, \(readableBytes) present")
        }
        return slice
    }

    mutating func writeStringList(_ strings: [String]) throws(ETunnelError) {
        try writeCount(strings.count, as: UInt16.self, field: "list.count")
        for string in strings { try writeShortString(string) }
    }

    mutating func readStringList(field: StaticString) throws(ETunnelError) -> [String] {
        let count = try readPayloadInteger(UInt16.self, field: field)
        var strings: [String] = []
        strings.reserveCapacity(Int(count))
        for _ in 0..<count { strings.append(try readShortString(field: field)) }
        return strings
    }
}
