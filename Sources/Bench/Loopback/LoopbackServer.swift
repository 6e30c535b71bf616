import NIOCore
import NIOPosix
import Synchronization
import XMPPCore

/// A minimal XMPP c2s server that accepts any user with one password (PLAIN, SCRAM-SHA-1,
/// SCRAM-SHA-256), binds, and routes `<message/>`s to the addressee's bare JID.
///
/// Why the generator ships a server: it calibrates the generator (what the generator can do
/// against a server that costs almost nothing shows its own ceiling, so a slow generator is not
/// blamed on the server under test), and it lets the tests run the whole NIO path — engine,
/// shards, handlers, coordinator — without an MMGS cluster. It is not a conformant server: no
/// TLS, rosters, presence broadcast or offline storage.
public final class LoopbackServer: Sendable {
    public let port: Int
    let channel: any Channel
    let group: MultiThreadedEventLoopGroup

    /// - Parameter dropEvery: fault injection: silently drop every Nth routed message (0: none),
    ///   to check that the generator reports lost messages.
    public static func start(host: String = "127.0.0.1", port: Int = 0, domain: String, password: String,
                             iterations: Int = 4096, threads: Int = 1, dropEvery: Int = 0) async throws -> LoopbackServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let state = LoopbackState(domain: domain, password: password, iterations: iterations, dropEvery: dropEvery)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(LoopbackHandler(state: state))
                }
            }
            .bind(host: host, port: port).get()
        return LoopbackServer(port: channel.localAddress?.port ?? port, channel: channel, group: group)
    }

    private init(port: Int, channel: any Channel, group: MultiThreadedEventLoopGroup) {
        self.port = port
        self.channel = channel
        self.group = group
    }

    public func shutdown() async throws {
        try await channel.close()
        try await group.shutdownGracefully()
    }
}

/// What every connection shares: the credentials (derived once, not per login) and who is
/// online.
final class LoopbackState: Sendable {
    let domain: String
    let password: String
    let credentials: [SCRAMAlgorithm: SCRAMCredentials]
    let online = Mutex<[String: any Channel]>([:])
    let dropEvery: Int
    let routed = Atomic<Int>(0)

    init(domain: String, password: String, iterations: Int, dropEvery: Int) {
        self.domain = domain
        self.password = password
        self.dropEvery = dropEvery
        var credentials: [SCRAMAlgorithm: SCRAMCredentials] = [:]
        for algorithm in SCRAMAlgorithm.allCases {
            credentials[algorithm] = try? SCRAMCredentials.derive(password: password, algorithm: algorithm, iterations: iterations)
        }
        self.credentials = credentials
    }
}

final class LoopbackHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase { case negotiating, scram(SCRAMServer), authenticated, bound }

    private let state: LoopbackState
    private let parser = XMLStreamParser(acceptedContentNamespaces: [XMLNamespace.jabberClient])
    private var events: [XMLStreamEvent] = []
    private var phase = Phase.negotiating
    private var user: String?
    private var bareJID: String?
    private var fullJID = ""

    init(state: LoopbackState) { self.state = state }

    private static let sasl = XMLNamespace.sasl
    private static let bind = XMLNamespace.bind

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            try parser.feed(Self.unwrapInboundIn(data), into: &events)
        } catch {
            send("<stream:error><\(error.condition.rawValue) xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>", context)
            context.close(promise: nil)
            return
        }
        var index = 0
        while index < events.count {
            let event = events[index]
            index += 1
            if handle(event, context: context) { break }
        }
        events.removeAll(keepingCapacity: true)
        context.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let bareJID {
            let mine = context.channel
            state.online.withLock { online in
                if online[bareJID] === mine { online[bareJID] = nil }
            }
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// True when the parser was reset (the rest of the read belongs to the old document).
    private func handle(_ event: XMLStreamEvent, context: ChannelHandlerContext) -> Bool {
        switch event {
        case .streamOpen:
            var features = "<stream:features>"
            if user == nil {
                features += "<mechanisms xmlns='\(Self.sasl)'><mechanism>SCRAM-SHA-256</mechanism><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>"
            } else {
                features += "<bind xmlns='\(Self.bind)'/>"
            }
            send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='l' from='\(state.domain)' version='1.0'>\(features)</stream:features>", context)
        case .streamClose:
            send("</stream:stream>", context)
            context.close(promise: nil)
        case .stanza(let element):
            switch phase {
            case .negotiating: return authenticate(element, context: context)
            case .scram(let scram): return continueSCRAM(element, scram: scram, context: context)
            case .authenticated: bindResource(element, context: context)
            case .bound: route(element, context: context)
            }
        }
        return false
    }

    private func authenticate(_ element: XMLElement, context: ChannelHandlerContext) -> Bool {
        guard element.name == "auth", element.namespace == Self.sasl,
              let payload = try? SASLBase64.decodeElementText(element.text) else { return fail("malformed-request", context) }
        let mechanism = element.attribute("mechanism") ?? ""
        if mechanism == "PLAIN" {
            guard let plain = try? PLAINMessage.parse(payload), plain.password == state.password else { return fail("not-authorized", context) }
            return succeed(user: plain.authcid, additional: nil, context: context)
        }
        guard let algorithm = SCRAMAlgorithm(mechanismName: mechanism), let credentials = state.credentials[algorithm] else {
            return fail("invalid-mechanism", context)
        }
        var scram = SCRAMServer(algorithm: algorithm)
        guard (try? scram.receiveClientFirst(payload)) != nil else { return fail("malformed-request", context) }
        let challenge = scram.serverFirst(credentials: credentials)
        phase = .scram(scram)
        send("<challenge xmlns='\(Self.sasl)'>\(SASLBase64.encodeElementText(challenge))</challenge>", context)
        return false
    }

    private func continueSCRAM(_ element: XMLElement, scram: SCRAMServer, context: ChannelHandlerContext) -> Bool {
        var scram = scram
        guard element.name == "response", let payload = try? SASLBase64.decodeElementText(element.text),
              let final = try? scram.receiveClientFinal(payload) else { return fail("not-authorized", context) }
        return succeed(user: scram.username ?? "", additional: final, context: context)
    }

    private func succeed(user: String, additional: [UInt8]?, context: ChannelHandlerContext) -> Bool {
        self.user = user.lowercased()
        phase = .authenticated
        send("<success xmlns='\(Self.sasl)'>\(additional.map { SASLBase64.encodeElementText($0) } ?? "")</success>", context)
        parser.reset()
        return true
    }

    private func fail(_ condition: String, _ context: ChannelHandlerContext) -> Bool {
        phase = .negotiating
        send("<failure xmlns='\(Self.sasl)'><\(condition)/><text>loopback server</text></failure>", context)
        return false
    }

    private func bindResource(_ element: XMLElement, context: ChannelHandlerContext) {
        guard element.name == "iq", let bind = element.child("bind", namespace: Self.bind), let user else { return }
        let resource = bind.child("resource", namespace: Self.bind)?.text ?? "r\(UInt32.random(in: 0 ... .max))"
        let bare = "\(user)@\(state.domain)"
        bareJID = bare
        fullJID = "\(bare)/\(resource)"
        let channel = context.channel
        state.online.withLock { $0[bare] = channel }
        phase = .bound
        send("<iq type='result' id='\(element.attribute("id") ?? "")'><bind xmlns='\(Self.bind)'><jid>\(fullJID)</jid></bind></iq>", context)
    }

    private func route(_ element: XMLElement, context: ChannelHandlerContext) {
        guard element.name == "message", let to = element.attribute("to") else { return }
        let bare = to.split(separator: "/", maxSplits: 1).first.map { String($0).lowercased() } ?? to
        guard let target = state.online.withLock({ $0[bare] }) else { return }
        if state.dropEvery > 0, state.routed.wrappingAdd(1, ordering: .relaxed).newValue % state.dropEvery == 0 { return }
        var stanza = element
        stanza.setAttribute("from", to: fullJID)
        var buffer = target.allocator.buffer(capacity: 256)
        stanza.write(into: &buffer, parentNamespace: XMLNamespace.jabberClient)
        target.writeAndFlush(buffer, promise: nil)
    }

    private func send(_ text: String, _ context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        context.write(Self.wrapOutboundOut(buffer), promise: nil)
    }
}
