import ETunnel
import NIOCore
import NIOPosix
import Synchronization

/// A TCP client that speaks no protocol: it sends the bytes it is given and collects whatever
/// arrives, so tests can talk to an eTunnel server byte by byte and watch it answer and hang up.
public final class RawTCPClient: Sendable {
    public let channel: any Channel
    private let inbox: Inbox

    private init(channel: any Channel, inbox: Inbox) {
        self.channel = channel
        self.inbox = inbox
    }

    public static func connect(
        host: String = "127.0.0.1", port: Int,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> RawTCPClient {
        let inbox = Inbox()
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(2))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(CollectingHandler(inbox: inbox))
                }
            }
            .connect(host: host, port: port)
            .get()
        return RawTCPClient(channel: channel, inbox: inbox)
    }

    /// Sends bytes; errors (e.g. the server already closed) are returned, not thrown.
    @discardableResult
    public func send(_ bytes: [UInt8]) async -> (any Error)? {
        do {
            try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
            return nil
        } catch {
            return error
        }
    }

    @discardableResult
    public func send(_ buffer: ByteBuffer) async -> (any Error)? {
        await send(Array(buffer.readableBytesView))
    }

    /// True once the connection is closed (by either side).
    public var isClosed: Bool { inbox.state.withLock { $0.closed } }

    /// Every byte received so far that `nextFrame` has not consumed.
    public var unreadBytes: [UInt8] { inbox.state.withLock { Array($0.bytes.readableBytesView) } }

    /// Waits until the connection is closed; false if it is still open after `seconds`.
    public func waitForClose(seconds: Double) async -> Bool {
        await waitUntil(seconds: seconds) { self.isClosed }
    }

    /// The next complete eTunnel frame received, waiting up to `seconds`. Returns nil if the
    /// connection closed without one; throws `TimeoutError` if none came in time, or the decode
    /// error if the bytes are not a valid frame.
    public func nextFrame(seconds: Double, maxFrameSize: Int = 1 << 20) async throws -> Frame? {
        let clock = ContinuousClock()
        let end = clock.now + .seconds(seconds)
        while true {
            let (frame, closed) = try inbox.state.withLock { s throws(ETunnelError) -> (Frame?, Bool) in
                (try s.bytes.readETunnelFrame(maxFrameSize: maxFrameSize), s.closed)
            }
            if let frame { return frame }
            if closed { return nil }
            if clock.now >= end { throw TimeoutError(seconds: seconds, what: "a frame from the server") }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    public func close() async {
        try? await channel.close()
    }
}

private final class Inbox: Sendable {
    struct State {
        var bytes = ByteBuffer()
        var closed = false
    }
    let state = Mutex(State())
}

private final class CollectingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let inbox: Inbox

    init(inbox: Inbox) { self.inbox = inbox }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = Self.unwrapInboundIn(data)
        inbox.state.withLock { _ = $0.bytes.writeBuffer(&chunk) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        inbox.state.withLock { $0.closed = true }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // ECONNRESET and the like: the connection is gone either way.
        context.close(promise: nil)
    }
}

/// An eTunnel error frame payload (u16 code, u16-length UTF-8 message), decoded independently
/// of the library so tests check the wire format itself.
public struct WireError: Sendable, Equatable, CustomStringConvertible {
    public var code: UInt16
    public var message: String

    public init?(payload: ByteBuffer) {
        var buffer = payload
        guard let code = buffer.readInteger(as: UInt16.self),
              let length = buffer.readInteger(as: UInt16.self),
              let bytes = buffer.readBytes(length: Int(length)),
              let message = String(validating: bytes, as: UTF8.self)
        else { return nil }
        self.code = code
        self.message = message
    }

    public var description: String { "code \(code): \(message)" }
}
