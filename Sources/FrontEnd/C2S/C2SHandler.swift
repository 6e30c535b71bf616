import ETunnel
import Foundation
import Logging
import Metrics
import NIOCore
import NIOSSL
import StanzaRouting
import XMPPCore

/// One device's XMPP stream (RFC 6120) on the front-end: stream headers, SASL, resource
/// binding, then stanzas. It parses what routing needs, stamps the verified `from`, and hands
/// stanzas to the owning router in the order the device sent them.
final class C2SHandler: ChannelInboundHandler, IdleReleasable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Phase {
        case awaitingStream
        case negotiating
        case authenticatingSCRAM(SCRAMServer)
        case authenticated
        case established
        case closed
    }

    let configuration: C2SConfiguration
    let routers: RouterClient
    let path: MessagePath
    let registry: C2SRegistry
    let frontend: String
    let logger: Logger
    let stream: UInt64
    private let parser: XMLStreamParser
    private var phase = Phase.awaitingStream
    private var headerSent = false
    private var authenticatedUser: String?
    private(set) var session: SessionRef?
    private var authFailures = 0
    private var events: [XMLStreamEvent] = []
    /// Next event of `events` to handle (an index, so draining a big read is linear).
    private var nextEvent = 0
    private var busy = false
    private var negotiationTimer: Scheduled<Void>?
    private(set) var handle: C2SStreamHandle?
    /// Work after binding, in arrival order; one item at a time is with a router.
    private var pendingWork = CircularBuffer<OrderedWork>()
    private var workInFlight = false
    private var worker: C2SWorker?
    private var eventLoop: (any EventLoop)?
    private var streamCounter = 0
    private var tlsActive = false

    /// Work after binding, done one item at a time so stanzas reach routers in order.
    enum OrderedWork: Sendable {
        case route(RoutedStanza)
        case presence(PresenceUpdate)
        case rosterGet(id: String?)
        case rosterSet(id: String?, RosterSet)
        case carbons(id: String?, enabled: Bool)
    }

    /// Stanza rate (see `ServiceLimits.stanzaRate`) and its wake-up while the stream waits.
    private var bucket: TokenBucket
    private var rateTimer: Scheduled<Void>?
    /// Reading from the device is paused (the work queue or the rate said so).
    private var readPaused = false
    /// Stanzas one stream handles per turn of its event loop: a device that sends a lot at once
    /// (up to a 64 KiB read of small stanzas) takes its turns with the other streams of the loop
    /// instead of holding it (a flood to a device on the same front-end, delivered locally, is
    /// never slowed by a router).
    static let stanzasPerTurn = 32
    private var turnScheduled = false
    private var channelContext: ChannelHandlerContext?
    private let throttle: AuthThrottle?
    private static let authFailures = Counter(label: "mmgs_auth_failures_total")
    private static let authDelayed = Counter(label: "mmgs_auth_failures_delayed_total")

    private let sweeper: C2SIdleSweeper?
    /// When the connection last read anything (the idle sweeper looks at it).
    private(set) var lastRead = NIODeadline.now()

    init(configuration: C2SConfiguration, routers: RouterClient, path: MessagePath, registry: C2SRegistry, frontend: String, logger: Logger,
         sweeper: C2SIdleSweeper? = nil, throttle: AuthThrottle? = nil) {
        self.sweeper = sweeper
        self.throttle = throttle
        self.bucket = TokenBucket(rate: configuration.serviceLimits.stanzaRate, burst: configuration.serviceLimits.stanzaBurst, now: .now())
        self.configuration = configuration
        self.routers = routers
        self.path = path
        self.registry = registry
        self.frontend = frontend
        self.logger = logger
        self.stream = registry.newStreamID()
        self.parser = XMLStreamParser(limits: configuration.limits, acceptedContentNamespaces: [XMLNamespace.jabberClient])
    }

    var domain: String { configuration.domain }

    // MARK: Channel events

    func channelActive(context: ChannelHandlerContext) {
        let handle = C2SStreamHandle(stream: stream, channel: context.channel, maxUnacked: configuration.serviceLimits.maxUnackedStanzas)
        self.handle = handle
        self.eventLoop = context.eventLoop
        self.channelContext = context
        registry.add(handle)
        sweeper?.add(self)
        negotiationTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(configuration.negotiationTimeout.nanoseconds)) {
            if case .established = self.phase { return }
            self.fail(context: context, StreamError(.connectionTimeout, text: "no bound resource within \(self.configuration.negotiationTimeout)"))
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        phase = .closed
        negotiationTimer?.cancel()
        rateTimer?.cancel()
        rateTimer = nil
        channelContext = nil
        sweeper?.remove(self)
        if let handle {
            let reaper = C2SReaper(routers: routers, registry: registry, domain: domain, logger: logger)
            if let generation = handle.detach(from: context.channel) {
                // XEP-0198: keep the session for the resumption window.
                if generation != Int.min { reaper.expire(handle, generation: generation, after: configuration.resumeWindow) }
            } else {
                Task { await reaper.finish(handle) }
            }
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .closed = phase else {
            let bytes = Self.unwrapInboundIn(data)
            lastRead = .now()
            do {
                try parser.feed(bytes, into: &events)
            } catch {
                fail(context: context, StreamError(error))
                return
            }
            drain(context: context)
            return
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("c2s connection error", metadata: ["stream": "\(stream)", "error": "\(error)"])
        context.close(promise: nil)
    }

    /// Called by the idle sweeper: a bound stream at rest between stanzas lets its parser go.
    func releaseIdleState() {
        guard case .established = phase, !busy, nextEvent >= events.count else { return }
        if parser.hibernate() { events = [] }
    }

    /// Handles queued events until one needs an answer from a router.
    private func drain(context: ChannelHandlerContext) {
        var handled = 0
        while !busy, rateTimer == nil, !turnScheduled, nextEvent < events.count, pendingWork.count < configuration.maxPendingWork {
            if case .closed = phase { break }
            let event = events[nextEvent]
            if case .established = phase, case .stanza = event {
                if let wait = bucket.take(now: .now()) {
                    waitForRate(wait, context: context)
                    break
                }
                if handled == Self.stanzasPerTurn {
                    // The rest in a later turn, after the loop's other channels had theirs.
                    turnScheduled = true
                    context.eventLoop.assumeIsolated().execute {
                        self.turnScheduled = false
                        self.drain(context: context)
                    }
                    break
                }
                handled += 1
            }
            nextEvent += 1
            handle(event, context: context)
        }
        if nextEvent >= events.count || { if case .closed = phase { return true } else { return false } }() {
            events.removeAll(keepingCapacity: events.count < 256)
            nextEvent = 0
        }
        updateReading(context: context)
    }

    // MARK: Back-pressure

    /// Reads from the device only while everything it sent so far is handled or queued within
    /// bounds: parsed events wait while a router call is out, stanzas wait for their router
    /// (`maxPendingWork`) and for the rate. Paused, the socket buffer fills and TCP slows the
    /// device; memory per stream stays at one read's worth of events plus the work queue.
    private func updateReading(context: ChannelHandlerContext) {
        if case .closed = phase { return }
        let caughtUp = nextEvent >= events.count && rateTimer == nil && pendingWork.count <= configuration.maxPendingWork / 2
        if readPaused == caughtUp {
            readPaused = !caughtUp
            context.channel.setOption(ChannelOptions.autoRead, value: caughtUp).whenFailure { _ in }
        }
    }

    private func waitForRate(_ wait: TimeAmount, context: ChannelHandlerContext) {
        rateTimer = context.eventLoop.assumeIsolated().scheduleTask(in: wait) {
            self.rateTimer = nil
            self.drain(context: context)
        }
    }

    private func handle(_ event: XMLStreamEvent, context: ChannelHandlerContext) {
        switch event {
        case .streamOpen(let header):
            openStream(header, context: context)
        case .streamClose:
            write("</stream:stream>", context: context, flush: true)
            phase = .closed
            context.close(promise: nil)
        case .stanza(let element):
            switch phase {
            case .awaitingStream, .closed:
                fail(context: context, StreamError(.notWellFormed, text: "an element before the stream header"))
            case .negotiating:
                negotiate(element, context: context)
            case .authenticatingSCRAM(let scram):
                continueSCRAM(element, scram: scram, context: context)
            case .authenticated:
                bind(element, context: context)
            case .established:
                established(element, context: context)
            }
        }
    }

    // MARK: Writing

    private func write(_ text: String, context: ChannelHandlerContext, flush: Bool = true) {
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        if flush { context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil) } else { context.write(Self.wrapOutboundOut(buffer), promise: nil) }
    }

    func write(_ element: XMLElement, context: ChannelHandlerContext) {
        if case .established = phase, let handle {
            handle.writeStanza(element)
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: 256)
        element.write(into: &buffer, parentNamespace: XMLNamespace.jabberClient)
        context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil)
    }

    /// Sends a stream error and closes (RFC 6120 §4.9.1.1: the header first if not yet sent).
    func fail(context: ChannelHandlerContext, _ error: StreamError) {
        if case .closed = phase { return }
        phase = .closed
        events.removeAll()
        nextEvent = 0
        var buffer = context.channel.allocator.buffer(capacity: 512)
        if !headerSent {
            buffer.writeString(StanzaRendering.streamHeader(domain: domain, id: "\(stream)"))
            headerSent = true
        }
        error.write(into: &buffer)
        buffer.writeString("</stream:stream>")
        logger.info("stream error", metadata: ["stream": "\(stream)", "condition": "\(error.condition.rawValue)", "text": "\(error.text ?? "")"])
        context.writeAndFlush(Self.wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    // MARK: Stream header and features

    private func openStream(_ header: XMLElement, context: ChannelHandlerContext) {
        streamCounter += 1
        write(StanzaRendering.streamHeader(domain: domain, id: "\(stream)-\(streamCounter)"), context: context, flush: false)
        headerSent = true
        if let to = header.attribute("to"), to.lowercased() != domain {
            fail(context: context, StreamError(.hostUnknown, text: "this service is \(domain), not \(to)"))
            return
        }
        if let version = header.attribute("version"), let major = version.split(separator: ".").first.flatMap({ Int($0) }), major > 1 {
            fail(context: context, StreamError(.unsupportedVersion, text: "this service speaks XMPP 1.0"))
            return
        }
        if authenticatedUser == nil {
            phase = .negotiating
            write(StanzaRendering.featuresBeforeAuth(mechanisms: offeredMechanisms, startTLS: configuration.tls != nil && !tlsActive,
                                                     required: configuration.requireTLS), context: context)
        } else {
            phase = .authenticated
            write(StanzaRendering.featuresAfterAuth(resumeWindow: configuration.resumeWindow), context: context)
        }
    }

    /// What SASL offers on this stream: nothing before STARTTLS when TLS is required, PLAIN only
    /// inside TLS unless the configuration allows it in the clear.
    private var offeredMechanisms: [String] {
        if configuration.requireTLS && !tlsActive { return [] }
        var mechanisms = [SCRAMAlgorithm.sha256.mechanismName, SCRAMAlgorithm.sha1.mechanismName]
        if tlsActive || configuration.allowPlainWithoutTLS { mechanisms.append("PLAIN") }
        return mechanisms
    }

    // MARK: STARTTLS (RFC 6120 §5)

    private func startTLS(context: ChannelHandlerContext) {
        guard let tls = configuration.tls, !tlsActive else {
            write("<failure xmlns='\(StanzaRendering.tlsNS)'/></stream:stream>", context: context)
            phase = .closed
            context.close(promise: nil)
            return
        }
        // <proceed/> leaves in the clear; everything after it is TLS.
        write("<proceed xmlns='\(StanzaRendering.tlsNS)'/>", context: context)
        do {
            try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), position: .first)
        } catch {
            fail(context: context, StreamError(.internalServerError, text: "TLS could not start"))
            return
        }
        tlsActive = true
        parser.reset()
        // Anything parsed after <starttls/> from the same read arrived in the clear: an injection.
        if nextEvent < events.count {
            fail(context: context, StreamError(.policyViolation, text: "data after <starttls/> before the TLS handshake"))
            return
        }
        phase = .awaitingStream
    }

    // MARK: SASL (RFC 6120 §6)

    private func negotiate(_ element: XMLElement, context: ChannelHandlerContext) {
        if element.name == "starttls", element.namespace == StanzaRendering.tlsNS {
            startTLS(context: context)
            return
        }
        if configuration.requireTLS && !tlsActive {
            fail(context: context, StreamError(.policyViolation, text: "STARTTLS is required before authentication"))
            return
        }
        guard element.name == "auth", element.namespace == StanzaRendering.saslNS else {
            if element.namespace == XMLNamespace.jabberClient {
                fail(context: context, StreamError(.notAuthorized, text: "authenticate first"))
            } else {
                fail(context: context, StreamError(.unsupportedStanzaType, text: "unexpected <\(element.name)/> before authentication"))
            }
            return
        }
        let mechanism = element.attribute("mechanism") ?? ""
        let initial: [UInt8]
        do {
            initial = try SASLBase64.decodeElementText(element.text) ?? []
        } catch {
            saslFailed(error, context: context)
            return
        }
        if let algorithm = SCRAMAlgorithm(mechanismName: mechanism) {
            var scram = SCRAMServer(algorithm: algorithm)
            let username: String
            do {
                username = try scram.receiveClientFirst(initial)
            } catch {
                saslFailed(error, context: context)
                return
            }
            let bare = "\(username.lowercased())@\(domain)"
            let decoy = decoySecret
            perform(context: context, { [routers] in
                let answer = try await routers.credentials(bare)
                let stored = answer.credentials.compactMap { try? SCRAMCredentials(decoding: Array($0.readableBytesView)) }
                // An unknown account gets decoy credentials: the same challenge, the same failure.
                let credentials = stored.first { $0.algorithm == algorithm }
                    ?? SCRAMServer.decoyCredentials(for: username, algorithm: algorithm, secret: decoy)
                return (answer.status, credentials)
            }) { result in
                switch result {
                case .failure(let error):
                    self.saslFailed(SASLError(.temporaryAuthFailure, "the account service is unavailable (\(error))"), context: context, counted: false)
                case .success((.disabled, _)):
                    self.saslFailed(SASLError(.accountDisabled, "this device is disabled"), context: context)
                case .success((_, let credentials)):
                    let challenge = scram.serverFirst(credentials: credentials)
                    self.phase = .authenticatingSCRAM(scram)
                    self.pendingUser = bare
                    self.write("<challenge xmlns='\(StanzaRendering.saslNS)'>\(SASLBase64.encodeElementText(challenge))</challenge>", context: context)
                }
            }
        } else if mechanism == "PLAIN" && (tlsActive || configuration.allowPlainWithoutTLS) {
            let parsed: (authzid: String?, authcid: String, password: String)
            do {
                parsed = try PLAINMessage.parse(initial)
            } catch {
                saslFailed(error, context: context)
                return
            }
            let bare = "\(parsed.authcid.lowercased())@\(domain)"
            if let authzid = parsed.authzid, authzid != bare, authzid != parsed.authcid {
                saslFailed(SASLError(.invalidAuthzid, "a device may only act as itself"), context: context)
                return
            }
            let password = parsed.password
            let username = parsed.authcid
            let decoy = decoySecret
            // The PBKDF2 runs off the event loop (a login storm must not stall the loop's other
            // streams), and for an unknown account too, on decoy credentials: known or not, a
            // wrong password costs the same time (SCRAMCredentials.verifies).
            perform(context: context, { [routers] in
                let answer = try await routers.credentials(bare)
                let stored = answer.credentials.compactMap { try? SCRAMCredentials(decoding: Array($0.readableBytesView)) }
                let known = stored.first { $0.algorithm == .sha256 } ?? stored.first
                let credentials = known ?? SCRAMServer.decoyCredentials(for: username, algorithm: .sha256, secret: decoy)
                let verified = credentials.verifies(plainPassword: password)
                return (answer.status, verified && known != nil)
            }) { result in
                switch result {
                case .failure(let error):
                    self.saslFailed(SASLError(.temporaryAuthFailure, "the account service is unavailable (\(error))"), context: context, counted: false)
                case .success((.disabled, _)):
                    self.saslFailed(SASLError(.accountDisabled, "this device is disabled"), context: context)
                case .success((.enabled, true)):
                    self.saslSucceeded(user: bare, additional: nil, context: context)
                case .success:
                    self.saslFailed(SASLError(.notAuthorized, "wrong device id or password"), context: context, account: bare)
                }
            }
        } else {
            saslFailed(SASLError(.invalidMechanism, "offered: \(offeredMechanisms.joined(separator: ", "))"), context: context)
        }
    }

    private var decoySecret: [UInt8]? { configuration.decoySecret.isEmpty ? nil : configuration.decoySecret }

    private var pendingUser: String?

    private func continueSCRAM(_ element: XMLElement, scram: SCRAMServer, context: ChannelHandlerContext) {
        var scram = scram
        guard element.namespace == StanzaRendering.saslNS else {
            fail(context: context, StreamError(.notAuthorized, text: "authentication in progress"))
            return
        }
        if element.name == "abort" {
            saslFailed(SASLError(.aborted, "aborted by the client"), context: context)
            return
        }
        guard element.name == "response" else {
            saslFailed(SASLError(.malformedRequest, "expected <response/>"), context: context)
            return
        }
        do {
            let message = try SASLBase64.decodeElementText(element.text) ?? []
            let final = try scram.receiveClientFinal(message)
            if let authzid = scram.authorizationIdentity, !authzid.isEmpty, authzid.lowercased() != pendingUser {
                saslFailed(SASLError(.invalidAuthzid, "a device may only act as itself"), context: context)
                return
            }
            saslSucceeded(user: pendingUser ?? "", additional: final, context: context)
        } catch {
            saslFailed(error, context: context, account: pendingUser)
        }
    }

    private func saslSucceeded(user: String, additional: [UInt8]?, context: ChannelHandlerContext) {
        authenticatedUser = user
        throttle?.succeeded(account: user)
        let text = additional.map { SASLBase64.encodeElementText($0) } ?? ""
        write("<success xmlns='\(StanzaRendering.saslNS)'>\(text)</success>", context: context)
        parser.reset()
        events.removeAll()  // a new stream starts after <success/>
        nextEvent = 0
        phase = .awaitingStream
        logger.debug("authenticated", metadata: ["stream": "\(stream)", "user": "\(user)"])
    }

    /// Answers a failed exchange with `<failure/>`. A wrong password (`account` given) is
    /// counted per account and per source address, and its answer waits the back-off
    /// (`FailureBackoff`): the stream reads nothing meanwhile, so guesses cannot queue up.
    /// `counted: false` for failures that are the service's, not the client's (they still count
    /// towards the stream's `maxAuthFailures`).
    private func saslFailed(_ error: SASLError, context: ChannelHandlerContext, account: String? = nil, counted: Bool = true) {
        authFailures += 1
        if counted { Self.authFailures.increment() }
        phase = .negotiating
        let answer = {
            self.write(StanzaRendering.saslFailure(error), context: context)
            if self.authFailures >= self.configuration.maxAuthFailures {
                self.fail(context: context, StreamError(.policyViolation, text: "too many failed authentication attempts"))
            }
        }
        let address = context.channel.remoteAddress?.ipAddress
        guard let account, let throttle else { return answer() }
        let wait = throttle.failed(account: account, address: address)
        guard wait > .zero else { return answer() }
        Self.authDelayed.increment()
        busy = true
        context.eventLoop.assumeIsolated().scheduleTask(in: wait) {
            self.busy = false
            if case .closed = self.phase { return }
            answer()
            self.drain(context: context)
        }
    }

    // MARK: Resource binding (RFC 6120 §7)

    private func bind(_ element: XMLElement, context: ChannelHandlerContext) {
        if element.name == "resume", element.namespace == StanzaRendering.smNS {
            resume(element, context: context)
            return
        }
        guard element.name == "iq", element.namespace == XMLNamespace.jabberClient, element.attribute("type") == "set",
              let bindRequest = element.child("bind", namespace: StanzaRendering.bindNS) else {
            if element.name == "iq", element.namespace == XMLNamespace.jabberClient {
                reply(to: element, StanzaError(.notAllowed, text: "bind a resource first"), context: context)
            } else {
                fail(context: context, StreamError(.notAuthorized, text: "bind a resource first"))
            }
            return
        }
        var resource: String?
        if let requested = bindRequest.child("resource", namespace: StanzaRendering.bindNS)?.text, !requested.isEmpty {
            guard requested.utf8.count <= 1023, !requested.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                reply(to: element, StanzaError(.badRequest, text: "the resource must be 1 to 1023 bytes without control characters"), context: context)
                return
            }
            resource = requested
        }
        guard let user = authenticatedUser else { return }
        let request = SessionOpen(bareJID: user, resource: resource, address: SessionAddress(frontend: frontend, stream: stream))
        // A device that goes away while its bind is with the router would leave the router a
        // session no stream serves (nothing else closes it: the stream never learnt its session).
        let closeOrphan: @Sendable (Result<SessionRef, any Error>) -> Void = { [routers] result in
            guard case .success(let ref) = result else { return }
            Task { _ = await routers.closeSession(ref) }
        }
        perform(context: context, { [routers] in try await routers.openSession(request) }, ifClosed: closeOrphan) { result in
            switch result {
            case .failure(let error as ETunnelError) where error.message.hasPrefix("resource-constraint"):
                // RFC 6120 §7.6.2.1: the account has as many resources bound as it may.
                self.reply(to: element, StanzaError(.resourceConstraint, text: "too many resources are bound to this account; close one first"), context: context)
            case .failure(let error):
                self.reply(to: element, StanzaError(.notAllowed, text: "\(error)"), context: context)
            case .success(let ref):
                self.session = ref
                self.handle?.bind(ref)
                self.phase = .established
                self.negotiationTimer?.cancel()
                self.startOrderedWork(context: context)
                let jid = XMLElement(name: "jid", namespace: StanzaRendering.bindNS, children: [.text("\(ref.bareJID)/\(ref.resource)")])
                let bind = XMLElement(name: "bind", namespace: StanzaRendering.bindNS, children: [.element(jid)])
                self.write(StanzaRendering.iqResult(id: element.attribute("id"), to: nil, from: nil, payload: bind), context: context)
            }
        }
    }

    func reply(to element: XMLElement, _ error: StanzaError, context: ChannelHandlerContext) {
        guard element.attribute("type") != "error", element.attribute("type") != "result" else { return }
        write(error.reply(to: element, by: domain), context: context)
    }

    // MARK: Stream resumption (XEP-0198 §5)

    private func resume(_ element: XMLElement, context: ChannelHandlerContext) {
        let failed = "<failed xmlns='\(StanzaRendering.smNS)'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
        guard let user = authenticatedUser, let previd = element.attribute("previd"), let previous = UInt64(previd, radix: 16),
              let h = element.attribute("h").flatMap({ UInt32($0) }), let old = registry.handle(previous), old !== handle,
              let result = old.resume(on: context.channel, user: user, acknowledged: h,
                                      resumed: { "<resumed xmlns='\(StanzaRendering.smNS)' previd='\(previd)' h='\($0)'/>" }) else {
            write(failed, context: context)
            return
        }
        result.old?.close(promise: nil)
        if let mine = handle { registry.remove(mine.stream); _ = mine.finish() }
        handle = old
        session = old.session
        phase = .established
        negotiationTimer?.cancel()
        startOrderedWork(context: context)
        logger.debug("stream resumed", metadata: ["stream": "\(previous)", "resent": "\(result.resent)"])
    }

    // MARK: Async plumbing

    /// Runs `work` off the event loop and continues with its result on the loop; events that
    /// arrive meanwhile wait (the stream is processed strictly in order).
    /// `ifClosed` gets the result instead when the stream closed meanwhile (to undo what the
    /// work did on a router).
    private func perform<T: Sendable>(context: ChannelHandlerContext, _ work: @escaping @Sendable () async throws -> T,
                                      ifClosed: (@Sendable (Result<T, any Error>) -> Void)? = nil, then: @escaping (Result<T, any Error>) -> Void) {
        busy = true
        let loop = context.eventLoop
        let continuation = NIOLoopBound((self, context, then), eventLoop: loop)
        Task {
            let result: Result<T, any Error>
            do { result = .success(try await work()) } catch { result = .failure(error) }
            loop.execute {
                let (handler, context, then) = continuation.value
                handler.busy = false
                if case .closed = handler.phase {
                    ifClosed?(result)
                    return
                }
                then(result)
                handler.drain(context: context)
            }
        }
    }

    /// After binding: stanzas go to routers in the order the device sent them (RFC 6120
    /// §10.1), each once the one before it has been handled. Items queued when the connection
    /// closes are still sent.
    private func startOrderedWork(context: ChannelHandlerContext) {
        guard let handle, let session else { return }
        handle.bind(session)
        worker = C2SWorker(routers: routers, path: path, handle: handle, domain: domain, session: session, logger: logger)
        pumpWork()
    }

    func enqueue(_ item: OrderedWork) {
        pendingWork.append(item)
        pumpWork()
    }

    private func pumpWork() {
        guard !workInFlight, let worker, let loop = eventLoop, let item = pendingWork.popFirst() else { return }
        workInFlight = true
        let me = NIOLoopBound(self, eventLoop: loop)
        worker.perform(item) {
            // Always through the loop's queue: a failing call completes at once, and a long
            // queue must not recurse.
            loop.execute {
                let handler = me.value
                handler.workInFlight = false
                handler.pumpWork()
                // The queue shrank: events held back by it may go on, and reading resume.
                if let context = handler.channelContext { handler.drain(context: context) }
            }
        }
    }
}
