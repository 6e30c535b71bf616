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
    /// groups, …) well below 64 KiB; a longer string is refused with `frameTooLarge` (never
    /// cut silently, never a trap: a node must not die of one oversized field). Text that may
    /// be shortened (error messages) is capped by its writer with `cappedUTF8`.
    @discardableResult
    public mutating func writeShortString(_ string: String, field: StaticString = "string") throws(ETunnelError) -> Int {
        let length = try self.writeCount(string.utf8.count, as: UInt16.self, field: field)
        return length + self.writeString(string)
    }

    /// A string cut to at most `maxBytes` (≤ 65,535) of UTF-8 at a scalar boundary, as u16 length
    /// + bytes: for text that may be shortened (error messages) or is validated shorter (node
    /// names), so its writer cannot fail.
    @discardableResult
    public mutating func writeCappedString(_ string: String, maxBytes: Int) -> Int {
        let fitted = string.cappedUTF8(min(maxBytes, Int(UInt16.max)))
        return self.writeInteger(UInt16(truncatingIfNeeded: fitted.utf8.count)) + self.writeString(fitted)
    }

    /// Writes a count or a length in a field of `type`; a value that does not fit is refused
    /// with a typed error instead of trapping (`UInt8(300)` would kill the process). Every
    /// count and length of every payload goes through here.
    @inlinable
    @discardableResult
    public mutating func writeCount<T: FixedWidthInteger & UnsignedInteger>(_ count: Int, as type: T.Type, field: StaticString) throws(ETunnelError) -> Int {
        guard let value = T(exactly: count) else {
            throw ETunnelError(.frameTooLarge, "\(field): \(count) does not fit in \(MemoryLayout<T>.size * 8) bits (at most \(T.max))")
        }
        return self.writeInteger(value)
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
///
/// A type whose counts and lengths all fit their fields by construction (fixed sizes, capped
/// text) has a non-throwing `encode`, and `EncodeError` is then inferred as `Never`; every
/// other type throws `frameTooLarge` for a value that does not fit, never traps.
public protocol ETunnelMessage<EncodeError>: Sendable {
    associatedtype EncodeError: Error = ETunnelError
    init(from buffer: inout ByteBuffer) throws(ETunnelError)
    func encode(into buffer: inout ByteBuffer) throws(EncodeError)
}

extension ETunnelMessage {
    public func encoded(allocator: ByteBufferAllocator = ByteBufferAllocator()) throws(EncodeError) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 64)
        try self.encode(into: &buffer)
        return buffer
    }

    public static func decode(_ buffer: ByteBuffer) throws(ETunnelError) -> Self {
        var buffer = buffer
        return try Self(from: &buffer)
    }
}
