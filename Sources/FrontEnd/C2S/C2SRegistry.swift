import NIOCore
import StanzaRouting
import Synchronization
import XMPPCore

/// One device stream as routers address it (by stream id), which may outlive its TCP
/// connection: with XEP-0198 resumption it waits, detached, for the device to come back, and
/// queues what arrives meanwhile. Every stanza to the device goes through here, so acks can be
/// counted (XEP-0198) and presence held back while the client is inactive (XEP-0352).
final class C2SStreamHandle: Sendable {
    let stream: UInt64
    private let state: Mutex<State>

    struct StreamManagement {
        var id: String
        var resumable: Bool
        /// Stanzas received from the device (the `h` we report).
        var handled: UInt32 = 0
        /// Stanzas sent to the device since enabling.
        var sent: UInt32 = 0
        /// Sent but not yet acknowledged, oldest first.
        var unacked = CircularBuffer<ByteBuffer>()
    }

    struct State {
        var channel: (any Channel)?
        var session: SessionRef?
        var sm: StreamManagement?
        var inactive = false
        var heldPresence: [String: ByteBuffer] = [:]
        var heldOrder: [String] = []
        var finished = false
        /// Bumped by every resume, so that an old detach's expiry cannot end a resumed stream.
        var generation = 0
    }

    init(stream: UInt64, channel: any Channel) {
        self.stream = stream
        self.state = Mutex(State(channel: channel))
    }

    var session: SessionRef? { state.withLock { $0.session } }

    func bind(_ session: SessionRef) { state.withLock { $0.session = session } }

    // MARK: Writing

    /// Writes bytes that are not stanzas (stream features, SM and CSI elements, SASL).
    func writeNonza(_ text: String) {
        state.withLock { s in
            guard let channel = s.channel else { return }
            channel.writeAndFlush(ByteBuffer(string: text), promise: nil)
        }
    }

    /// Writes a stanza; returns false when there is nowhere to put it (no connection and no
    /// resumable session).
    @discardableResult
    func writeStanza(_ bytes: ByteBuffer) -> Bool {
        state.withLock { s in
            guard !s.finished else { return false }
            if s.inactive, let from = Self.presenceSender(bytes) {
                // XEP-0352: while inactive, only the latest presence of each contact is kept.
                if s.heldPresence.updateValue(bytes, forKey: from) == nil { s.heldOrder.append(from) }
                return true
            }
            return Self.send(bytes, &s)
        }
    }

    func writeStanza(_ element: XMLElement) {
        var buffer = ByteBuffer()
        element.write(into: &buffer, parentNamespace: XMLNamespace.jabberClient)
        writeStanza(buffer)
    }

    private static func send(_ bytes: ByteBuffer, _ s: inout State) -> Bool {
        if s.sm != nil {
            s.sm!.sent &+= 1
            s.sm!.unacked.append(bytes)
        }
        guard let channel = s.channel else { return s.sm?.resumable ?? false }
        if let sm = s.sm, sm.unacked.count % 16 == 0 {
            var out = bytes
            out.writeString("<r xmlns='urn:xmpp:sm:3'/>")
            channel.writeAndFlush(out, promise: nil)
        } else {
            channel.writeAndFlush(bytes, promise: nil)
        }
        return true
    }

    /// `<presence from='…'` → the sender, for CSI; nil for other stanzas.
    static func presenceSender(_ bytes: ByteBuffer) -> String? {
        guard bytes.readableBytesView.starts(with: "<presence".utf8) else { return nil }
        guard let element = StanzaRendering.parseStanza(bytes) else { return nil }
        return element.attribute("from") ?? ""
    }

    // MARK: Client state indication (XEP-0352)

    func setInactive(_ inactive: Bool) {
        state.withLock { s in
            s.inactive = inactive
            guard !inactive else { return }
            let held = s.heldOrder.compactMap { s.heldPresence[$0] }
            s.heldPresence = [:]
            s.heldOrder = []
            for bytes in held { _ = Self.send(bytes, &s) }
        }
    }

    // MARK: Stream management (XEP-0198)

    func enableStreamManagement(resumable: Bool) -> String {
        state.withLock { s in
            let id = String(stream, radix: 16)
            s.sm = StreamManagement(id: id, resumable: resumable)
            return id
        }
    }

    var streamManagementEnabled: Bool { state.withLock { $0.sm != nil } }

    func countHandled() { state.withLock { if $0.sm != nil { $0.sm!.handled &+= 1 } } }

    var handled: UInt32 { state.withLock { $0.sm?.handled ?? 0 } }

    /// The device acknowledged `h` stanzas in all.
    func acknowledge(_ h: UInt32) {
        state.withLock { s in
            guard var sm = s.sm else { return }
            let acknowledgedBefore = sm.sent &- UInt32(sm.unacked.count)
            let newly = Int(h &- acknowledgedBefore)
            if newly > 0 && newly <= sm.unacked.count { sm.unacked.removeFirst(newly) }
            s.sm = sm
        }
    }

    /// The connection dropped. A resumable stream stays, detached: returns the generation to
    /// expire later, or nil when the stream is over.
    func detach(from channel: any Channel) -> Int? {
        state.withLock { s in
            guard s.channel === channel else { return s.finished ? nil : Int.min }  // already moved on
            s.channel = nil
            if s.sm?.resumable == true && !s.finished { return s.generation }
            s.finished = true
            return nil
        }
    }

    /// The resumption window passed: true if the stream was still detached (and is now over).
    func expire(generation: Int) -> Bool {
        state.withLock { s in
            guard !s.finished, s.channel == nil, s.generation == generation else { return false }
            s.finished = true
            return true
        }
    }

    /// A new connection resumes this stream (XEP-0198 §5): returns what it must re-send, or nil
    /// when the stream cannot be resumed.
    func resume(on channel: any Channel, user: String, acknowledged h: UInt32) -> (handled: UInt32, resend: [ByteBuffer], old: (any Channel)?)? {
        state.withLock { s in
            guard !s.finished, s.sm?.resumable == true, s.session?.bareJID == user else { return nil }
            let old = s.channel
            s.channel = channel
            s.generation += 1
            var sm = s.sm!
            let acknowledgedBefore = sm.sent &- UInt32(sm.unacked.count)
            let newly = Int(h &- acknowledgedBefore)
            if newly > 0 && newly <= sm.unacked.count { sm.unacked.removeFirst(newly) }
            s.sm = sm
            return (sm.handled, Array(sm.unacked), old)
        }
    }

    /// Ends the stream for good: returns the stanzas the device never acknowledged.
    func finish() -> [ByteBuffer] {
        state.withLock { s in
            s.finished = true
            s.channel = nil
            defer { s.sm?.unacked.removeAll() }
            return s.sm.map { Array($0.unacked) } ?? []
        }
    }

    var isDetached: Bool { state.withLock { $0.channel == nil && !$0.finished } }

    /// Ends the stream with a stream error (RFC 6120 §4.9), then closes the connection.
    func kill(_ error: StreamError) {
        let channel: (any Channel)? = state.withLock { s in
            s.finished = true
            defer { s.channel = nil }
            return s.channel
        }
        guard let channel else { return }
        var buffer = channel.allocator.buffer(capacity: 256)
        error.write(into: &buffer)
        buffer.writeString("</stream:stream>")
        channel.writeAndFlush(buffer).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// The device streams of this front-end, by stream id (the id routers address them by).
final class C2SRegistry: Sendable {
    private let streams = Mutex<[UInt64: C2SStreamHandle]>([:])
    private let nextID = Atomic<UInt64>(UInt64.random(in: 1 ... 1 << 40))

    func newStreamID() -> UInt64 { nextID.wrappingAdd(1, ordering: .relaxed).oldValue }

    func add(_ handle: C2SStreamHandle) { streams.withLock { $0[handle.stream] = handle } }

    func remove(_ stream: UInt64) { _ = streams.withLock { $0.removeValue(forKey: stream) } }

    func handle(_ stream: UInt64) -> C2SStreamHandle? { streams.withLock { $0[stream] } }

    var count: Int { streams.withLock { $0.count } }
}
