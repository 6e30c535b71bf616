import NIOCore
import StanzaRouting
import Synchronization
import XMPPCore

/// One device stream as routers address it (by stream id), which may outlive its TCP
/// connection: with XEP-0198 resumption it waits, detached, for the device to come back, and
/// queues what arrives meanwhile. Every stanza to the device goes through here, so acks can be
/// counted (XEP-0198) and presence held back while the client is inactive (XEP-0352).
///
/// Writers come from the device's event loop and from eTunnel loops. Each one decides under the
/// lock (counting, queueing into `outbox`) and never calls into the channel there: a write that
/// fails on the channel's own loop closes the channel inside the call, and `channelInactive`
/// then comes back here (`detach`). The outbox is written out on the channel's event loop by
/// one drain at a time, so the bytes leave in the order the stanzas were counted.
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

        /// Drops what the device acknowledged with `h` (a count of everything it received).
        mutating func acknowledge(_ h: UInt32) {
            let acknowledgedBefore = sent &- UInt32(truncatingIfNeeded: unacked.count)
            let newly = Int(h &- acknowledgedBefore)
            if newly > 0 && newly <= unacked.count { unacked.removeFirst(newly) }
        }
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
        /// Bytes decided but not yet handed to the channel, oldest first. Nearly always empty or
        /// one buffer: it starts at capacity 1, not NIO's 16 (about 400 bytes per idle stream).
        var outbox = CircularBuffer<ByteBuffer>(initialCapacity: 1)
        /// A drain is running or scheduled on the channel's loop; it takes what is queued.
        var draining = false
        /// After the outbox: close the connection (a stream error was queued last).
        var closeAfterDrain = false
        /// Another session of the account has Message Carbons on: what this one sends is copied
        /// to it (the router says so, `Delivery.Action.carbonPeers`).
        var carbonPeers = false
        /// A detached stream reached `maxUnacked`: it is to be ended like an expired one.
        var overflowed = false
    }

    /// XEP-0198: stanzas sent and not yet acknowledged that a stream may hold (a device that
    /// never acks, or a detached stream waiting for its device, would otherwise grow without
    /// bound). At the bound a connected stream ends with `policy-violation`, a detached one
    /// takes nothing more; either way the stanza is refused and its router keeps it offline.
    let maxUnacked: Int

    init(stream: UInt64, channel: any Channel, maxUnacked: Int = 5000) {
        self.stream = stream
        self.maxUnacked = maxUnacked
        self.state = Mutex(State(channel: channel))
    }

    var session: SessionRef? { state.withLock { $0.session } }

    func bind(_ session: SessionRef) { state.withLock { $0.session = session } }

    var carbonPeers: Bool {
        get { state.withLock { $0.carbonPeers } }
        set { state.withLock { $0.carbonPeers = newValue } }
    }

    // MARK: Writing

    /// Writes bytes that are not stanzas (stream features, SM and CSI elements, SASL).
    func writeNonza(_ text: String) {
        let channel = state.withLock { s -> (any Channel)? in
            guard s.channel != nil else { return nil }
            s.outbox.append(ByteBuffer(string: text))
            return Self.claimDrain(&s)
        }
        if let channel { drain(on: channel) }
    }

    /// Writes a stanza; returns false when there is nowhere to put it (no connection and no
    /// resumable session).
    @discardableResult
    func writeStanza(_ bytes: ByteBuffer) -> Bool {
        let (accepted, channel) = state.withLock { s -> (Bool, (any Channel)?) in
            guard !s.finished else { return (false, nil) }
            if let sm = s.sm, sm.unacked.count >= maxUnacked {
                guard let channel = s.channel else {
                    s.overflowed = true
                    return (false, nil)
                }
                let error = StreamError(.policyViolation, text: "more than \(maxUnacked) stanzas sent and not acknowledged")
                return (false, Self.queueKill(error, on: channel, &s))
            }
            if s.inactive, let from = Self.presenceSender(bytes) {
                // XEP-0352: while inactive, only the latest presence of each contact is kept.
                if s.heldPresence.updateValue(bytes, forKey: from) == nil { s.heldOrder.append(from) }
                return (true, nil)
            }
            let accepted = Self.queue(bytes, &s)
            return (accepted, Self.claimDrain(&s))
        }
        if let channel { drain(on: channel) }
        return accepted
    }

    func writeStanza(_ element: XMLElement) {
        var buffer = ByteBuffer()
        element.write(into: &buffer, parentNamespace: XMLNamespace.jabberClient)
        writeStanza(buffer)
    }

    /// Counts a stanza for XEP-0198 and queues it for the connection, if there is one.
    private static func queue(_ bytes: ByteBuffer, _ s: inout State) -> Bool {
        if s.sm != nil {
            s.sm!.sent &+= 1
            s.sm!.unacked.append(bytes)
        }
        guard s.channel != nil else { return s.sm?.resumable ?? false }
        if let sm = s.sm, sm.unacked.count % 16 == 0 {
            var out = bytes
            out.writeString("<r xmlns='urn:xmpp:sm:3'/>")
            s.outbox.append(out)
        } else {
            s.outbox.append(bytes)
        }
        return true
    }

    /// The channel to drain on, when this caller is the one to start a drain.
    private static func claimDrain(_ s: inout State) -> (any Channel)? {
        guard !s.draining, !s.outbox.isEmpty, let channel = s.channel else { return nil }
        s.draining = true
        return channel
    }

    /// Hands the outbox to the channel on its event loop, outside the lock, until it is empty.
    private func drain(on channel: any Channel) {
        guard channel.eventLoop.inEventLoop else {
            channel.eventLoop.execute { self.drain(on: channel) }
            return
        }
        // One buffer per turn of the lock (no copy of the outbox, nothing allocated), one flush
        // at the end.
        var wrote = false
        while true {
            let (next, close) = state.withLock { s -> (ByteBuffer?, Bool) in
                // A resume may have moved the stream to another connection meanwhile.
                // (The flag is then the new connection's, or reset by `detach`.)
                guard s.channel === channel || s.closeAfterDrain else { return (nil, false) }
                if let bytes = s.outbox.popFirst() { return (bytes, false) }
                s.draining = false
                return (nil, s.closeAfterDrain)
            }
            guard let next else {
                if wrote { channel.flush() }
                if close { channel.close(promise: nil) }
                return
            }
            channel.write(next, promise: nil)
            wrote = true
        }
    }

    /// `<presence from='…'` → the sender, for CSI; nil for other stanzas.
    static func presenceSender(_ bytes: ByteBuffer) -> String? {
        guard bytes.readableBytesView.starts(with: "<presence".utf8) else { return nil }
        guard let element = StanzaRendering.parseStanza(bytes) else { return nil }
        return element.attribute("from") ?? ""
    }

    // MARK: Client state indication (XEP-0352)

    func setInactive(_ inactive: Bool) {
        let channel = state.withLock { s -> (any Channel)? in
            s.inactive = inactive
            guard !inactive else { return nil }
            let held = s.heldOrder.compactMap { s.heldPresence[$0] }
            s.heldPresence = [:]
            s.heldOrder = []
            for bytes in held { _ = Self.queue(bytes, &s) }
            return Self.claimDrain(&s)
        }
        if let channel { drain(on: channel) }
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
        state.withLock { s in s.sm?.acknowledge(h) }
    }

    /// The connection dropped. A resumable stream stays, detached: returns the generation to
    /// expire later, or nil when the stream is over.
    func detach(from channel: any Channel) -> Int? {
        state.withLock { s in
            guard s.channel === channel else { return s.finished ? nil : Int.min }  // already moved on
            s.channel = nil
            s.outbox.removeAll()  // what was unacknowledged is still in `sm.unacked`
            s.draining = false
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

    /// A new connection resumes this stream (XEP-0198 §5): queues `<resumed/>` (made by
    /// `resumed` from our `h`) and then everything unacknowledged, ahead of any later stanza.
    /// Returns how many stanzas are sent again and the connection it replaces, or nil when the
    /// stream cannot be resumed.
    func resume(on channel: any Channel, user: String, acknowledged h: UInt32, resumed: (UInt32) -> String) -> (resent: Int, old: (any Channel)?)? {
        let outcome = state.withLock { s -> (resent: Int, old: (any Channel)?)? in
            guard !s.finished, s.sm?.resumable == true, s.session?.bareJID == user else { return nil }
            let old = s.channel
            s.channel = channel
            s.generation += 1
            s.sm!.acknowledge(h)
            s.outbox.removeAll()
            s.outbox.append(ByteBuffer(string: resumed(s.sm!.handled)))
            s.outbox.append(contentsOf: s.sm!.unacked)
            s.draining = false  // a drain on the old connection stops at its next turn
            return (s.sm!.unacked.count, old)
        }
        guard let outcome else { return nil }
        if let channel = state.withLock({ Self.claimDrain(&$0) }) { drain(on: channel) }
        return outcome
    }

    /// Ends the stream for good: returns the stanzas the device never acknowledged.
    func finish() -> [ByteBuffer] {
        state.withLock { s in
            s.finished = true
            s.channel = nil
            s.outbox.removeAll()
            defer { s.sm?.unacked.removeAll() }
            return s.sm.map { Array($0.unacked) } ?? []
        }
    }

    var isDetached: Bool { state.withLock { $0.channel == nil && !$0.finished } }

    /// True once, after a detached stream refused a stanza at `maxUnacked`: the caller ends it
    /// (`C2SReaper.finish`), so what it holds goes back to its router.
    func takeOverflow() -> Bool {
        state.withLock { s in
            defer { s.overflowed = false }
            return s.overflowed && !s.finished
        }
    }

    /// Ends the stream with a stream error (RFC 6120 §4.9) after what is already queued, then
    /// closes the connection.
    func kill(_ error: StreamError) {
        let channel = state.withLock { s -> (any Channel)? in
            guard !s.finished else { return nil }
            guard let channel = s.channel else {
                s.finished = true
                return nil
            }
            return Self.queueKill(error, on: channel, &s)
        }
        if let channel { drain(on: channel) }
    }

    /// Ends the stream after what is queued: the stream error, then a close. Returns the channel
    /// when the caller must start the drain.
    private static func queueKill(_ error: StreamError, on channel: any Channel, _ s: inout State) -> (any Channel)? {
        s.finished = true
        var buffer = channel.allocator.buffer(capacity: 256)
        error.write(into: &buffer)
        buffer.writeString("</stream:stream>")
        s.outbox.append(buffer)
        s.closeAfterDrain = true
        if s.draining { return nil }
        s.draining = true
        return channel
    }
}
