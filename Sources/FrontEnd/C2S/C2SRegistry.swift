import NIOCore
import Synchronization
import XMPPCore

/// What a router may do to a device stream on this front-end, from any thread.
final class C2SConnectionHandle: Sendable {
    let stream: UInt64
    let channel: any Channel

    init(stream: UInt64, channel: any Channel) {
        self.stream = stream
        self.channel = channel
    }

    /// Writes stanza bytes (already in the stream's default namespace).
    func write(_ bytes: ByteBuffer) {
        channel.writeAndFlush(bytes, promise: nil)
    }

    func write(_ element: XMLElement) {
        var buffer = channel.allocator.buffer(capacity: 256)
        element.write(into: &buffer, parentNamespace: XMLNamespace.jabberClient)
        write(buffer)
    }

    /// Ends the stream with a stream error (RFC 6120 §4.9), then closes the connection.
    func kill(_ error: StreamError) {
        var buffer = channel.allocator.buffer(capacity: 256)
        error.write(into: &buffer)
        buffer.writeString("</stream:stream>")
        channel.writeAndFlush(buffer).whenComplete { _ in self.channel.close(promise: nil) }
    }
}

/// The device streams of this front-end, by stream id (the id routers address them by).
final class C2SRegistry: Sendable {
    private let streams = Mutex<[UInt64: C2SConnectionHandle]>([:])
    private let nextID = Atomic<UInt64>(UInt64.random(in: 1 ... 1 << 40))

    func newStreamID() -> UInt64 { nextID.wrappingAdd(1, ordering: .relaxed).oldValue }

    func add(_ handle: C2SConnectionHandle) { streams.withLock { $0[handle.stream] = handle } }

    func remove(_ stream: UInt64) { _ = streams.withLock { $0.removeValue(forKey: stream) } }

    func handle(_ stream: UInt64) -> C2SConnectionHandle? { streams.withLock { $0[stream] } }

    var count: Int { streams.withLock { $0.count } }
}
