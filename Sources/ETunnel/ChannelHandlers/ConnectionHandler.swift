import Logging
import NIOCore

/// Drives one eTunnel connection on its event loop: the handshake first (through
/// `HandshakeStateMachine`), then frames to the `ConnectionCore`, heartbeats and dead-peer
/// detection. Any protocol error is answered with an error frame, then the connection closes.
final class ConnectionHandler: ChannelInboundHandler {
    /// Bytes, not frames: the handler splits frames itself so that a frame never goes through
    /// the pipeline as a boxed `NIOAny` (one allocation per frame saved on the hot path).
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var handshake: HandshakeStateMachine
    private let configuration: ETunnelConfiguration
    private let methods: ETunnelMethods
    private let logger: Logger
    /// Completed with the core once the handshake succeeds, failed if it does not.
    let established: EventLoopPromise<ConnectionCore>
    private var core: ConnectionCore?
    private var lastReceived = NIODeadline.now()
    private var heartbeat: Scheduled<Void>?
    private var handshakeTimer: Scheduled<Void>?
    private var closing = false
    private var promiseCompleted = false
    private var cumulation = ByteBuffer()

    init(role: HandshakeStateMachine.Role, configuration: ETunnelConfiguration, methods: ETunnelMethods, established: EventLoopPromise<ConnectionCore>, logger: Logger) {
        self.handshake = HandshakeStateMachine(
            role: role, localName: configuration.nodeName, secret: configuration.clusterSecret,
            receiveWindow: configuration.receiveWindow)
        self.configuration = configuration
        self.methods = methods
        self.established = established
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        guard handshakeTimer == nil else { return }
        lastReceived = .now()
        let loop = context.eventLoop.assumeIsolated()
        handshakeTimer = loop.scheduleTask(in: configuration.handshakeTimeout) {
            self.fail(context: context, ETunnelError(.handshakeTimeout, "handshake not completed within \(self.configuration.handshakeTimeout)"))
        }
        if handshake.role == .client {
            perform(handshake.start(nonce: HandshakeStateMachine.randomNonce()), context: context)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = Self.unwrapInboundIn(data)
        lastReceived = .now()
        ETunnelStatistics.shared.bytesIn.wrappingAdd(UInt64(incoming.readableBytes), ordering: .relaxed)
        if cumulation.readableBytes == 0 {
            cumulation = incoming
        } else {
            cumulation.writeBuffer(&incoming)
        }
        var frames: UInt64 = 0
        defer { ETunnelStatistics.shared.framesIn.wrappingAdd(frames, ordering: .relaxed) }
        do {
            while !closing, let frame = try cumulation.readETunnelFrame(maxFrameSize: configuration.maxFrameSize) {
                frames += 1
                if let core {
                    try core.receive(frame)
                } else {
                    perform(handshake.receive(frame, nonce: HandshakeStateMachine.randomNonce), context: context)
                }
            }
        } catch {
            fail(context: context, error)
            return
        }
        if cumulation.readableBytes == 0 {
            cumulation = ByteBuffer()
        } else if cumulation.readerIndex > 1 << 16 {
            cumulation.discardReadBytes()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.fireChannelReadComplete()
    }

    /// End of stream inside a frame is a protocol violation worth naming.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed, cumulation.readableBytes > 0 {
            fail(context: context, ETunnelError(.protocolViolation, "connection closed inside a frame (\(cumulation.readableBytes) bytes left over)"))
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func perform(_ action: HandshakeStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .send(let kind, let payload):
            writeNow(context: context, kind: kind, payload: payload)
        case .establish(let peerName, let peerWindow, let thenSend):
            if let (kind, payload) = thenSend { writeNow(context: context, kind: kind, payload: payload) }
            handshakeTimer?.cancel()
            let core = ConnectionCore(
                channel: context.channel, localName: configuration.nodeName, peerName: peerName,
                peerWindow: peerWindow, configuration: configuration, methods: methods)
            self.core = core
            startHeartbeat(context: context)
            logger.debug("eTunnel connection established", metadata: ["peer": "\(peerName)"])
            promiseCompleted = true
            ETunnelStatistics.shared.connectionsOpened.wrappingAdd(1, ordering: .relaxed)
            established.succeed(core)
        case .fail(let error):
            fail(context: context, error)
        }
    }

    private func writeNow(context: ChannelHandlerContext, kind: FrameKind, correlationID: UInt64 = 0, payload: ByteBuffer) {
        var buffer = context.channel.allocator.buffer(capacity: Frame.lengthFieldSize + Frame.headerLength + payload.readableBytes)
        buffer.writeETunnelFrame(kind: kind, correlationID: correlationID, payload: payload)
        context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil)
    }

    private func startHeartbeat(context: ChannelHandlerContext) {
        heartbeat = context.eventLoop.assumeIsolated().scheduleTask(in: configuration.heartbeatInterval) {
            guard !self.closing else { return }
            if NIODeadline.now() - self.lastReceived > self.configuration.deadPeerTimeout {
                let peer = self.core?.peerName ?? "peer"
                self.fail(context: context, ETunnelError(.deadPeer, "no frame from \(peer) for over \(self.configuration.deadPeerTimeout)"))
            } else {
                self.core?.sendHeartbeat()
                self.startHeartbeat(context: context)
            }
        }
    }

    /// Sends an error frame saying why (best effort), fails everything pending, closes.
    private func fail(context: ChannelHandlerContext, _ error: any Error) {
        guard !closing else { return }
        closing = true
        let tunnelError = error as? ETunnelError ?? ETunnelError(.protocolViolation, "\(error)")
        logger.debug("eTunnel connection failed", metadata: ["error": "\(tunnelError)"])
        switch tunnelError.code {
        case .authenticationFailed, .handshakeTimeout, .unsupportedVersion:
            ETunnelStatistics.shared.handshakesRefused.wrappingAdd(1, ordering: .relaxed)
        case .deadPeer, .connectionClosed, .shuttingDown:
            break
        default:
            ETunnelStatistics.shared.protocolErrors.wrappingAdd(1, ordering: .relaxed)
        }
        if tunnelError.code != .deadPeer && tunnelError.code != .connectionClosed {
            writeNow(context: context, kind: .error, payload: ErrorPayload(tunnelError).encoded())
        }
        teardown(tunnelError)
        context.close(promise: nil)
    }

    private func teardown(_ error: ETunnelError) {
        handshakeTimer?.cancel()
        heartbeat?.cancel()
        heartbeat = nil
        if let core, !core.isClosed { ETunnelStatistics.shared.connectionsClosed.wrappingAdd(1, ordering: .relaxed) }
        core?.close(error)
        if !promiseCompleted {
            promiseCompleted = true
            established.fail(error)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context: context, error)
    }

    /// A connect that fails never becomes active or inactive: fail the promise here too.
    func handlerRemoved(context: ChannelHandlerContext) {
        teardown(ETunnelError(.connectionClosed, "connection closed before the handshake completed"))
    }

    func channelInactive(context: ChannelHandlerContext) {
        closing = true
        let peer = core?.peerName ?? "peer"
        teardown(ETunnelError(.connectionClosed, "connection to \(peer) closed"))
        context.fireChannelInactive()
    }
}

@available(*, unavailable)
extension ConnectionHandler: Sendable {}

extension ChannelPipeline.SynchronousOperations {
    /// reads go this way: bytes → ConnectionHandler (frames, handshake) → ConnectionCore
    /// writes go this way: ConnectionCore's coalesced batches → socket
    func configureETunnelPipeline(role: HandshakeStateMachine.Role, configuration: ETunnelConfiguration, methods: ETunnelMethods, logger: Logger) throws -> EventLoopFuture<ConnectionCore> {
        let established = self.eventLoop.makePromise(of: ConnectionCore.self)
        try self.addHandler(ConnectionHandler(role: role, configuration: configuration, methods: methods, established: established, logger: logger), name: "connection")
        return established.futureResult
    }
}
