import NIOCore

/// Splits the byte stream into frames. The maximum frame size is enforced on the length field,
/// before buffering, so a peer cannot make this node buffer more than one maximum-size frame.
struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = Frame

    let maxFrameSize: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try buffer.readETunnelFrame(maxFrameSize: maxFrameSize) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if buffer.readableBytes > 0 {
            throw ETunnelError(.protocolViolation, "connection closed inside a frame (\(buffer.readableBytes) bytes left over)")
        }
        return .needMoreData
    }
}

@available(*, unavailable)
extension FrameDecoder: Sendable {}
