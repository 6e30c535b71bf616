import NIOCore

/// One eTunnel frame. On the wire (big-endian), see docs/protocol.md:
///
///     0      4      5     6       8               16        20
///     +------+------+-----+-------+---------------+---------+---------...
///     |length|version|kind| flags | correlation id| method  | payload
///     +------+------+-----+-------+---------------+---------+---------...
///
/// `length` counts every byte after itself, so a frame is `4 + length` bytes long.
public struct Frame: Sendable, Equatable {
    public static let version: UInt8 = 1
    /// Bytes after the length field that every frame carries.
    public static let headerLength = 16
    /// The length field itself.
    public static let lengthFieldSize = 4

    public var kind: FrameKind
    public var flags: UInt16
    public var correlationID: UInt64
    public var method: UInt32
    public var payload: ByteBuffer

    public init(kind: FrameKind, correlationID: UInt64 = 0, method: UInt32 = 0, flags: UInt16 = 0, payload: ByteBuffer = ByteBuffer()) {
        self.kind = kind
        self.flags = flags
        self.correlationID = correlationID
        self.method = method
        self.payload = payload
    }
}

/// What a frame is for. Raw values are the wire byte; new kinds need a new protocol version.
public enum FrameKind: UInt8, Sendable, CaseIterable {
    /// Handshake: client → server, offers versions, a nonce and the client's name.
    case hello = 1
    /// Handshake: server → client, the server's nonce and its proof of the cluster secret.
    case challenge = 2
    /// Handshake: client → server, the client's proof of the cluster secret.
    case auth = 3
    /// Handshake: server → client, the connection is open for calls.
    case ready = 4
    /// A call that expects exactly one `response` or `error` with the same correlation id.
    case request = 5
    case response = 6
    /// A message that expects no answer.
    case oneWay = 7
    /// Liveness: sent every heartbeat interval by both sides.
    case heartbeat = 8
    /// Flow control: the sender may send `n` more request/one-way frames.
    case credit = 9
    /// A failed call (correlation id ≠ 0) or a fatal connection error (correlation id = 0).
    case error = 10
    /// The caller no longer waits for this correlation id.
    case cancel = 11
}

extension ByteBuffer {
    /// Writes a whole frame; returns the number of bytes written.
    @discardableResult
    public mutating func writeETunnelFrame(
        kind: FrameKind, correlationID: UInt64 = 0, method: UInt32 = 0, flags: UInt16 = 0,
        payload: ByteBuffer
    ) -> Int {
        let length = UInt32(Frame.headerLength + payload.readableBytes)
        var written = self.writeInteger(length)
        written += self.writeInteger(Frame.version)
        written += self.writeInteger(kind.rawValue)
        written += self.writeInteger(flags)
        written += self.writeInteger(correlationID)
        written += self.writeInteger(method)
        var payload = payload
        written += self.writeBuffer(&payload)
        return written
    }

    @discardableResult
    public mutating func writeETunnelFrame(_ frame: Frame) -> Int {
        self.writeETunnelFrame(
            kind: frame.kind, correlationID: frame.correlationID, method: frame.method, flags: frame.flags,
            payload: frame.payload)
    }

    /// Reads one frame. `nil` means more bytes are needed (nothing is consumed); a malformed
    /// frame throws. The length is checked against `maxFrameSize` before any payload is
    /// buffered, so an oversized length is refused on its first four bytes.
    public mutating func readETunnelFrame(maxFrameSize: Int) throws(ETunnelError) -> Frame? {
        guard let length = self.getInteger(at: self.readerIndex, as: UInt32.self) else { return nil }
        guard length >= Frame.headerLength else {
            throw ETunnelError(.protocolViolation, "frame length \(length) is shorter than the \(Frame.headerLength)-byte header")
        }
        guard Int(length) + Frame.lengthFieldSize <= maxFrameSize else {
            throw ETunnelError(.frameTooLarge, "frame of \(Int(length) + Frame.lengthFieldSize) bytes exceeds the maximum of \(maxFrameSize) bytes")
        }
        // Version and kind are checked as soon as they arrive, before waiting for the payload.
        if let version = self.getInteger(at: self.readerIndex + 4, as: UInt8.self), version != Frame.version {
            throw ETunnelError(.unsupportedVersion, "frame version \(version) is not supported (this node speaks version \(Frame.version))")
        }
        if let rawKind = self.getInteger(at: self.readerIndex + 5, as: UInt8.self), FrameKind(rawValue: rawKind) == nil {
            throw ETunnelError(.unknownFrameKind, "unknown frame kind \(rawKind)")
        }
        guard self.readableBytes >= Frame.lengthFieldSize + Int(length) else { return nil }

        self.moveReaderIndex(forwardBy: Frame.lengthFieldSize + 1)
        let kind = FrameKind(rawValue: self.readInteger(as: UInt8.self)!)!
        let flags = self.readInteger(as: UInt16.self)!
        let correlationID = self.readInteger(as: UInt64.self)!
        let method = self.readInteger(as: UInt32.self)!
        let payload = self.readSlice(length: Int(length) - Frame.headerLength)!
        guard flags == 0 else {
            throw ETunnelError(.protocolViolation, "reserved flags 0x\(String(flags, radix: 16)) must be zero in version \(Frame.version)")
        }
        return Frame(kind: kind, correlationID: correlationID, method: method, flags: flags, payload: payload)
    }
}
