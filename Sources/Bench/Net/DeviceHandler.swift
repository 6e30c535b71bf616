import NIOCore
import NIOSSL
import XMPPCore

/// One device's connection: feeds the server's bytes to the XML parser, the parser's events to
/// the login state machine, and carries out what the machine asks for. Once the device is
/// ready it only picks benchmark messages out of the stream and answers server IQs.
///
/// Deliberately thin: the protocol logic is in ``ClientStreamMachine`` and the bookkeeping in
/// ``LoopShard``; this class only moves bytes and events between them. It lives on the shard's
/// event loop, like the shard, so the calls between them need no locks.
final class DeviceHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let shard: LoopShard
    private let slot: Int
    private var machine: ClientStreamMachine
    private let parser = XMLStreamParser(acceptedContentNamespaces: [XMLNamespace.jabberClient])
    private var events: [XMLStreamEvent] = []
    private var needsFlush = false
    private var closeReason: (condition: String, text: String?)?

    init(shard: LoopShard, slot: Int, options: LoginOptions) {
        self.shard = shard
        self.slot = slot
        self.machine = ClientStreamMachine(options: options)
    }

    func channelActive(context: ChannelHandlerContext) {
        perform(machine.start(), context: context)
        flushIfNeeded(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = Self.unwrapInboundIn(data)
        do {
            try parser.feed(bytes, into: &events)
        } catch {
            // Events completed before the bad byte are still handled, then the stream is dead.
            closeReason = ("xml-" + error.condition.rawValue, error.text)
        }
        var index = 0
        while index < events.count {
            let event = events[index]
            index += 1
            if machine.isReady {
                established(event, context: context)
            } else if perform(machine.receive(event), context: context) {
                break  // the parser was reset: later events belonged to the previous document
            }
        }
        events.removeAll(keepingCapacity: true)
        flushIfNeeded(context: context)
        if let closeReason, !machine.isFailed {
            if machine.isReady {
                shard.deviceDisconnected(slot: slot, reason: closeReason.condition)
            } else {
                perform(machine.connectionClosed(closeReason.condition, text: closeReason.text), context: context)
            }
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if machine.isReady {
            shard.deviceDisconnected(slot: slot, reason: closeReason?.condition ?? "connection-closed")
        } else {
            perform(machine.connectionClosed(closeReason?.condition ?? "connection-closed", text: closeReason?.text), context: context)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if closeReason == nil {
            let described = ConnectError.describe(error)
            closeReason = (error is NIOSSLError ? "tls-" + described.condition : described.condition, described.text)
        }
        context.close(promise: nil)
    }

    // MARK: Login

    /// Carries out the machine's actions; true if the parser was reset.
    @discardableResult
    private func perform(_ actions: [ClientStreamMachine.Action], context: ChannelHandlerContext) -> Bool {
        var reset = false
        for action in actions {
            switch action {
            case .send(let text):
                var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
                buffer.writeString(text)
                context.write(Self.wrapOutboundOut(buffer), promise: nil)
                needsFlush = true
            case .resetParser:
                parser.reset()
                reset = true
            case .startTLS:
                startTLS(context: context)
            case .ready(let jid):
                flushIfNeeded(context: context)
                shard.deviceReady(slot: slot, jid: jid)
            case .failed(let failure):
                shard.deviceFailed(slot: slot, failure)
                context.close(promise: nil)
            }
        }
        return reset
    }

    private func startTLS(context: ChannelHandlerContext) {
        do {
            let handler = try NIOSSLClientHandler(context: shard.tlsContext(), serverHostname: nil)
            try context.pipeline.syncOperations.addHandler(handler, position: .first)
        } catch {
            perform(machine.connectionClosed("tls-setup", text: "\(error)"), context: context)
            return
        }
        // NIOSSLHandler buffers what is written until its handshake completes, so the new stream
        // header can be written right away.
        perform(machine.tlsStarted(), context: context)
    }

    // MARK: Established

    private func established(_ event: XMLStreamEvent, context: ChannelHandlerContext) {
        switch event {
        case .stanza(let element) where element.name == "message":
            if element.attribute("type") == "error" {
                shard.messageError(slot: slot)
            } else if let body = element.child("body", namespace: XMLNamespace.jabberClient), let parsed = ChatBody(parsing: body.text) {
                shard.received(parsed, slot: slot, atNs: MonotonicClock.now())
            }
        case .stanza(let element) where element.name == "iq":
            answer(element, context: context)
        case .stanza(let element) where element.name == "error" && element.namespace == XMLNamespace.streams:
            closeReason = (StreamError(element)?.condition.rawValue ?? "stream-error", StreamError(element)?.text)
        case .streamClose:
            closeReason = ("stream-closed", nil)
        default:
            break
        }
    }

    /// Answers server IQs (XEP-0199 pings get a result, anything else service-unavailable), so
    /// that a server pinging idle devices does not drop them.
    private func answer(_ iq: XMLElement, context: ChannelHandlerContext) {
        let type = iq.attribute("type")
        guard type == "get" || type == "set" else { return }
        let id = ClientStreamMachine.escape(iq.attribute("id") ?? "")
        let to = iq.attribute("from").map { " to='\(ClientStreamMachine.escape($0))'" } ?? ""
        let text = iq.child("ping", namespace: "urn:xmpp:ping") != nil
            ? "<iq type='result' id='\(id)'\(to)/>"
            : "<iq type='error' id='\(id)'\(to)><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        context.write(Self.wrapOutboundOut(buffer), promise: nil)
        needsFlush = true
    }

    private func flushIfNeeded(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
    }
}
