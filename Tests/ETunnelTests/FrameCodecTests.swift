import ETunnel
import NIOCore
import Testing
import TestSupport

/// The wire format of `Frame`: exact layout, round trips, incremental decoding, and the errors
/// of malformed frames.
@Suite("Frame codec")
struct FrameCodecTests {
    static let payloadSizes = [0, 1, 200, 64 * 1024]
    static let ids: [(UInt64, UInt32)] = [
        (0, 0), (1, 1), (0x0123_4567_89AB_CDEF, 0xDEAD_BEEF), (UInt64.max, UInt32.max),
    ]
    static let maxFrameSize = 1 << 20

    static func payload(size: Int, seed: UInt64) -> ByteBuffer {
        var rng = SplitMix64(seed: seed)
        return ByteBuffer(bytes: rng.bytes(size))
    }

    static func encode(_ frame: Frame) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeETunnelFrame(frame)
        return buffer
    }

    /// Decodes `bytes` expecting an error; returns it (nil if the decode did not throw).
    static func decodeError(_ bytes: [UInt8], maxFrameSize: Int = FrameCodecTests.maxFrameSize) -> ETunnelError? {
        var buffer = ByteBuffer(bytes: bytes)
        do throws(ETunnelError) {
            _ = try buffer.readETunnelFrame(maxFrameSize: maxFrameSize)
            return nil
        } catch {
            return error
        }
    }

    /// A 20-byte header with the given fields (length counts header + payload after the length field).
    static func header(length: UInt32, version: UInt8 = 1, kind: UInt8 = 5, flags: UInt16 = 0, correlationID: UInt64 = 7, method: UInt32 = 9) -> [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeInteger(length)
        buffer.writeInteger(version)
        buffer.writeInteger(kind)
        buffer.writeInteger(flags)
        buffer.writeInteger(correlationID)
        buffer.writeInteger(method)
        return Array(buffer.readableBytesView)
    }

    // MARK: Round trips

    @Test("round trip of every kind, payload size and id", arguments: FrameKind.allCases, FrameCodecTests.payloadSizes)
    func roundTrip(kind: FrameKind, size: Int) throws {
        for (index, (correlationID, method)) in Self.ids.enumerated() {
            let body = Self.payload(size: size, seed: UInt64(index) << 8 | UInt64(kind.rawValue))
            let frame = Frame(kind: kind, correlationID: correlationID, method: method, payload: body)
            var buffer = Self.encode(frame)
            #expect(buffer.readableBytes == 20 + size)

            // The exact big-endian layout of docs/protocol.md.
            #expect(buffer.getInteger(at: 0, as: UInt32.self) == UInt32(16 + size))
            #expect(buffer.getInteger(at: 4, as: UInt8.self) == 1)
            #expect(buffer.getInteger(at: 5, as: UInt8.self) == kind.rawValue)
            #expect(buffer.getInteger(at: 6, as: UInt16.self) == 0)
            #expect(buffer.getInteger(at: 8, as: UInt64.self) == correlationID)
            #expect(buffer.getInteger(at: 16, as: UInt32.self) == method)
            #expect(buffer.getBytes(at: 20, length: size) == Array(body.readableBytesView))

            let decoded = try #require(try buffer.readETunnelFrame(maxFrameSize: Self.maxFrameSize))
            #expect(decoded == frame)
            #expect(decoded.kind == kind)
            #expect(decoded.correlationID == correlationID)
            #expect(decoded.method == method)
            #expect(decoded.flags == 0)
            #expect(decoded.payload.readableBytes == size)
            #expect(buffer.readableBytes == 0, "the whole frame is consumed")
            #expect(try buffer.readETunnelFrame(maxFrameSize: Self.maxFrameSize) == nil)
        }
    }

    @Test("both writers produce the same bytes")
    func writersAgree() {
        let body = Self.payload(size: 33, seed: 1)
        var a = ByteBuffer()
        a.writeETunnelFrame(kind: .oneWay, correlationID: 42, method: 0x7F00_0001, payload: body)
        let b = Self.encode(Frame(kind: .oneWay, correlationID: 42, method: 0x7F00_0001, payload: body))
        #expect(a == b)
        var c = ByteBuffer()
        let written = c.writeETunnelFrame(kind: .oneWay, correlationID: 42, method: 0x7F00_0001, payload: body)
        #expect(written == 20 + 33)
    }

    @Test("back-to-back frames in one buffer decode in order, then nil")
    func backToBack() throws {
        var rng = SplitMix64(seed: 99)
        var frames: [Frame] = []
        var buffer = ByteBuffer()
        for i in 0..<50 {
            let kind = FrameKind.allCases[Int.random(in: 0..<FrameKind.allCases.count, using: &rng)]
            let size = Int.random(in: 0...300, using: &rng)
            let frame = Frame(kind: kind, correlationID: UInt64(i), method: UInt32.random(in: 0...UInt32.max, using: &rng), payload: ByteBuffer(bytes: rng.bytes(size)))
            frames.append(frame)
            buffer.writeETunnelFrame(frame)
        }
        for expected in frames {
            let frame = try #require(try buffer.readETunnelFrame(maxFrameSize: Self.maxFrameSize))
            #expect(frame == expected)
        }
        #expect(try buffer.readETunnelFrame(maxFrameSize: Self.maxFrameSize) == nil)
        #expect(buffer.readableBytes == 0)
    }

    // MARK: Incremental decoding

    @Test("a frame split at every byte boundary is nil until complete, then identical", arguments: [0, 1, 200])
    func splitAtEveryBoundary(size: Int) throws {
        for kind in FrameKind.allCases {
            let frame = Frame(kind: kind, correlationID: UInt64.max - UInt64(size), method: UInt32.max, payload: Self.payload(size: size, seed: UInt64(size)))
            let bytes = Array(Self.encode(frame).readableBytesView)
            for split in 0..<bytes.count {
                var buffer = ByteBuffer(bytes: bytes[..<split])
                let before = buffer.readerIndex
                #expect(try buffer.readETunnelFrame(maxFrameSize: Self.maxFrameSize) == nil, "split at \(split) of \(bytes.count)")
                #expect(buffer.readerIndex == before, "nil consumes nothing (split at \(split))")
                #expect(buffer.readableBytes == split)
                buffer.writeBytes(bytes[split...])
                let decoded = try #require(try buffer.readETunnelFrame(maxFrameSize: Self.maxFrameSize), "split at \(split)")
                #expect(decoded == frame)
                #expect(buffer.readableBytes == 0)
            }
        }
    }

    @Test("a 64 KiB frame fed one byte at a time parses only on its last byte")
    func byteByByteLargeFrame() throws {
        let frame = Frame(kind: .response, correlationID: 123_456_789, method: 77, payload: Self.payload(size: 64 * 1024, seed: 64))
        let bytes = Array(Self.encode(frame).readableBytesView)
        var buffer = ByteBuffer()
        var decoded: Frame?
        for (index, byte) in bytes.enumerated() {
            buffer.writeInteger(byte)
            let result = try buffer.readETunnelFrame(maxFrameSize: Self.maxFrameSize)
            if index < bytes.count - 1 {
                if result != nil { Issue.record("decoded early at byte \(index)"); return }
            } else {
                decoded = result
            }
        }
        #expect(decoded == frame)
        #expect(buffer.readableBytes == 0)
    }

    @Test("two frames split across arbitrary chunks stream out intact")
    func chunkedStream() throws {
        var rng = SplitMix64(seed: 2024)
        let frames = (0..<20).map { i in
            Frame(kind: .request, correlationID: UInt64(i), method: UInt32(i), payload: Self.payload(size: Int.random(in: 0...500, using: &rng), seed: UInt64(i)))
        }
        var all = ByteBuffer()
        for frame in frames { all.writeETunnelFrame(frame) }
        let bytes = Array(all.readableBytesView)
        for _ in 0..<50 {
            var input = ByteBuffer()
            var out: [Frame] = []
            var offset = 0
            while offset < bytes.count {
                let chunk = min(bytes.count - offset, Int.random(in: 1...97, using: &rng))
                input.writeBytes(bytes[offset..<offset + chunk])
                offset += chunk
                while let frame = try input.readETunnelFrame(maxFrameSize: Self.maxFrameSize) { out.append(frame) }
            }
            #expect(out == frames)
        }
    }

    @Test("maxFrameSize counts the whole frame: exactly max is accepted, max + 1 is not")
    func maxFrameSizeBoundary() throws {
        let max = 1024
        var exact = Self.encode(Frame(kind: .request, payload: Self.payload(size: max - 20, seed: 3)))
        #expect(exact.readableBytes == max)
        #expect(try exact.readETunnelFrame(maxFrameSize: max) != nil)

        let over = Array(Self.encode(Frame(kind: .request, payload: Self.payload(size: max - 19, seed: 3))).readableBytesView)
        #expect(Self.decodeError(over, maxFrameSize: max)?.code == .frameTooLarge)
    }

    // MARK: Malformed frames

    @Test("length below the 16-byte header is a protocol violation, on the length alone", arguments: [UInt32(0), 1, 15])
    func lengthTooShort(length: UInt32) {
        let lengthOnly = Array(Self.header(length: length)[..<4])
        let error = Self.decodeError(lengthOnly)
        #expect(error?.code == .protocolViolation)
        #expect(error?.message.contains("\(length)") == true, "message names the bad length: \(String(describing: error))")
        #expect(Self.decodeError(Self.header(length: length))?.code == .protocolViolation)
    }

    @Test("length 16 (an empty payload) is valid")
    func minimalLength() throws {
        var buffer = ByteBuffer(bytes: Self.header(length: 16, kind: FrameKind.heartbeat.rawValue))
        let frame = try #require(try buffer.readETunnelFrame(maxFrameSize: 64))
        #expect(frame.kind == .heartbeat)
        #expect(frame.payload.readableBytes == 0)
    }

    @Test("an oversized length is refused when only its 4 bytes have arrived",
          arguments: [UInt32(1 << 20) - 3, UInt32(1 << 24), UInt32.max])
    func oversizedOnLengthAlone(length: UInt32) {
        let lengthOnly = Array(Self.header(length: length)[..<4])
        let error = Self.decodeError(lengthOnly)
        #expect(error?.code == .frameTooLarge)
        #expect(error?.message.contains("\(Self.maxFrameSize)") == true, "message names the maximum: \(String(describing: error))")
    }

    @Test("a version other than 1 is refused as soon as byte 5 arrives", arguments: [UInt8(0), 2, 255])
    func unsupportedVersion(version: UInt8) throws {
        let five = Array(Self.header(length: 100, version: version)[..<5])
        #expect(Self.decodeError(five)?.code == .unsupportedVersion)
        #expect(Self.decodeError(Self.header(length: 16, version: version))?.code == .unsupportedVersion)
        // Four bytes are not enough to know.
        var four = ByteBuffer(bytes: five[..<4])
        #expect(try four.readETunnelFrame(maxFrameSize: Self.maxFrameSize) == nil)
    }

    @Test("an unknown kind is refused as soon as byte 6 arrives", arguments: [UInt8(0), 12, 13, 128, 255])
    func unknownKind(kind: UInt8) {
        let six = Array(Self.header(length: 100, kind: kind)[..<6])
        let error = Self.decodeError(six)
        #expect(error?.code == .unknownFrameKind)
        #expect(error?.message.contains("\(kind)") == true)
        #expect(Self.decodeError(Self.header(length: 16, kind: kind))?.code == .unknownFrameKind)
    }

    @Test("non-zero flags are a protocol violation", arguments: [UInt16(1), 0x8000, 0xFFFF])
    func nonZeroFlags(flags: UInt16) throws {
        let bytes = Self.header(length: 16 + 3, flags: flags) + [1, 2, 3]
        #expect(Self.decodeError(bytes)?.code == .protocolViolation)
        // Incomplete, it still waits for the rest.
        var partial = ByteBuffer(bytes: bytes.dropLast())
        #expect(try partial.readETunnelFrame(maxFrameSize: Self.maxFrameSize) == nil)
    }

    @Test("checks apply in wire order: length before version before kind")
    func checkOrder() {
        // Short length wins over bad version and kind.
        #expect(Self.decodeError(Self.header(length: 3, version: 9, kind: 200))?.code == .protocolViolation)
        // Oversized wins over bad version.
        #expect(Self.decodeError(Self.header(length: UInt32.max, version: 9, kind: 200))?.code == .frameTooLarge)
        // Bad version wins over bad kind.
        #expect(Self.decodeError(Self.header(length: 16, version: 9, kind: 200))?.code == .unsupportedVersion)
    }

    @Test("a malformed frame after a good one: the good one is returned first")
    func goodThenBad() throws {
        var buffer = ByteBuffer()
        buffer.writeETunnelFrame(kind: .heartbeat, payload: ByteBuffer())
        buffer.writeBytes(Self.header(length: 16, kind: 0))
        #expect(try buffer.readETunnelFrame(maxFrameSize: Self.maxFrameSize)?.kind == .heartbeat)
        #expect(throws: ETunnelError.self) { try buffer.readETunnelFrame(maxFrameSize: Self.maxFrameSize) }
    }
}
