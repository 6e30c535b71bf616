import NIOCore

extension String {
    /// The longest prefix of whole Unicode scalars that fits in `maxBytes` of UTF-8.
    public func cappedUTF8(_ maxBytes: Int) -> String {
        guard utf8.count > maxBytes else { return self }
        var bytes = 0
        var scalars = String.UnicodeScalarView()
        for scalar in unicodeScalars {
            let size = String(scalar).utf8.count
            guard bytes + size <= maxBytes else { break }
            bytes += size
            scalars.append(scalar)
        }
        return String(scalars)
    }
}

/// Helpers for hand-written payload codecs. Readers throw `badPayload` with what was missing,
/// so a peer that sends a short or corrupt payload gets an error that says where it broke.
extension ByteBuffer {
    /// A string as u16 length + UTF-8 bytes. Callers bound what peers send (names, roster
    /// groups, …) well below 64 KiB; a longer string is cut at a scalar boundary rather than
    /// trapping, because a node must not die of one oversized field.
    @discardableResult
    public mutating func writeShortString(_ string: String) -> Int {
        let fitted = string.utf8.count <= Int(UInt16.max) ? string : string.cappedUTF8(Int(UInt16.max))
        return self.writeInteger(UInt16(fitted.utf8.count)) + self.writeString(fitted)
    }

    public mutating func readShortString(field: StaticString) throws(ETunnelError) -> String {
        let length = try self.readPayloadInteger(UInt16.self, field: field)
        guard let bytes = self.readSlice(length: Int(length)) else {
            throw ETunnelError(.badPayload, "\(field): \(length) bytes announced, \(self.readableBytes) present")
        }
        // One validating pass (decoding would repair bad bytes silently).
        guard let string = bytes.withUnsafeReadableBytes({ String(validating: $0, as: UTF8.self) }) else {
            throw ETunnelError(.badPayload, "\(field): not valid UTF-8")
        }
        return string
    }

    /// Inlinable: every payload decoder reads its integers here, and a generic call across the
    /// module boundary would not be specialised.
    @inlinable
    public mutating func readPayloadInteger<T: FixedWidthInteger>(_ type: T.Type, field: StaticString) throws(ETunnelError) -> T {
        guard let value = self.readInteger(as: T.self) else {
            throw ETunnelError(.badPayload, "\(field): expected \(MemoryLayout<T>.size) bytes, \(self.readableBytes) present")
        }
        return value
    }

    public mutating func readPayloadBytes(_ count: Int, field: StaticString) throws(ETunnelError) -> [UInt8] {
        guard let bytes = self.readBytes(length: count) else {
            throw ETunnelError(.badPayload, "\(field): expected \(count) bytes, \(self.readableBytes) present")
        }
        return bytes
    }
}

/// A payload type with a hand-written wire format. Each type's format is versioned by the
/// eTunnel protocol version plus append-only fields: a reader ignores trailing bytes it does
/// not know, so a newer peer may add fields at the end without breaking an older one.
public protocol ETunnelMessage: Sendable {
    init(from buffer: inout ByteBuffer) throws(ETunnelError)
    func encode(into buffer: inout ByteBuffer)
}

extension ETunnelMessage {
    public func encoded(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 64)
        self.encode(into: &buffer)
        return buffer
    }

    public static func decode(_ buffer: ByteBuffer) throws(ETunnelError) -> Self {
        var buffer = buffer
        return try Self(from: &buffer)
    }
}
