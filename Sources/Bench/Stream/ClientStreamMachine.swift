import MMGSShared
import XMPPCore

/// The client side of an XMPP c2s login (RFC 6120) as a pure state machine: stream header →
/// features → [STARTTLS → header → features] → SASL (PLAIN or SCRAM) → stream restart → header →
/// features → resource binding → [session] → initial presence → ready.
///
/// It owns no socket and no parser: the channel handler feeds it the parser's events and carries
/// out the ``Action``s it returns (write bytes, start TLS, reset the parser), so every step of a
/// login, every failure included, can be tested by feeding server XML and reading the XML the
/// device would write. It stops at the first failure and says where and why (``LoginFailure``):
/// a load test must count failed logins, not retry them quietly.
public struct ClientStreamMachine: Sendable {
    public enum Action: Sendable, Equatable {
        /// Write these bytes (UTF-8 XML) to the server.
        case send(String)
        /// Put TLS under the stream now (the server said `<proceed/>`), then call
        /// ``tlsStarted()``.
        case startTLS
        /// The next server bytes start a new XML document: reset the parser (after STARTTLS
        /// and after SASL success, RFC 6120 §5.4.3.3, §6.4.6).
        case resetParser
        /// Logged in, bound (with this full JID) and, if asked, present.
        case ready(jid: String)
        /// The login failed; the caller closes the connection.
        case failed(LoginFailure)
    }

    enum State: Sendable {
        case initial
        case awaitingHeader
        case awaitingFeatures
        case awaitingProceed
        case awaitingTLS
        case authenticatingPLAIN
        case authenticatingSCRAM(SCRAMExchange, SCRAMStep)
        case awaitingBind
        case awaitingSession
        case ready
        case failed
    }

    /// Where a SCRAM exchange is: SCRAMClient keeps this private, and the machine needs it to
    /// tell a server-final sent in a `<challenge/>` from a server-first.
    enum SCRAMStep: Sendable {
        case awaitingServerFirst, awaitingServerFinal, verified
    }

    static let streamsNS = XMLNamespace.streams
    static let tlsNS = XMLNamespace.tls
    static let saslNS = XMLNamespace.sasl
    static let bindNS = XMLNamespace.bind
    static let sessionNS = XMLNamespace.session
    static let bindID = "bind-1"
    static let sessionID = "session-1"

    public let options: LoginOptions
    private(set) var state = State.initial
    private var tlsActive = false
    private var authenticated = false
    private var sessionRequired = false
    private var boundJID: String?
    private let scramNonce: String?

    /// - Parameter scramNonce: fixed client nonce for tests; nil draws a random one.
    public init(options: LoginOptions, scramNonce: String? = nil) {
        self.options = options
        self.scramNonce = scramNonce
    }

    public var isReady: Bool { if case .ready = state { true } else { false } }
    public var isFailed: Bool { if case .failed = state { true } else { false } }

    /// The stage a failure right now would be attributed to.
    public var stage: LoginStage {
        switch state {
        case .initial: .connect
        case .awaitingHeader, .awaitingFeatures: authenticated ? .bind : (options.startTLS && !tlsActive ? .stream : .sasl)
        case .awaitingProceed, .awaitingTLS: .tls
        case .authenticatingPLAIN, .authenticatingSCRAM: .sasl
        case .awaitingBind: .bind
        case .awaitingSession: .session
        case .ready, .failed: .stream
        }
    }

    // MARK: Inputs

    /// The TCP connection is up: open the stream.
    public mutating func start() -> [Action] {
        state = .awaitingHeader
        return [.send(header)]
    }

    /// TLS is in the pipeline (its handler buffers writes until the handshake completes): reset
    /// the parser and open a new stream over it.
    public mutating func tlsStarted() -> [Action] {
        guard case .awaitingTLS = state else { return [] }
        tlsActive = true
        state = .awaitingHeader
        return [.resetParser, .send(header)]
    }

    /// The connection closed or failed before the login finished.
    public mutating func connectionClosed(_ reason: String = "connection-closed", text: String? = nil) -> [Action] {
        switch state {
        case .ready, .failed: return []
        default: return fail(LoginFailure(stage, reason, text: text))
        }
    }

    /// The login took longer than allowed.
    public mutating func timedOut(after seconds: Double) -> [Action] {
        switch state {
        case .ready, .failed: return []
        default:
            let where_ = stage
            return fail(LoginFailure(.timeout, "\(where_.rawValue)", text: "not ready after \(seconds) s (still in \(where_.rawValue))"))
        }
    }

    /// One event from the stream parser.
    public mutating func receive(_ event: XMLStreamEvent) -> [Action] {
        switch event {
        case .streamOpen:
            guard case .awaitingHeader = state else { return fail(LoginFailure(stage, "unexpected-stream-header")) }
            state = .awaitingFeatures
            return []
        case .streamClose:
            return connectionClosed("stream-closed", text: "the server closed its stream")
        case .stanza(let element):
            if element.name == "error", element.namespace == Self.streamsNS {
                let error = StreamError(element)
                return fail(LoginFailure(stage, error?.condition.rawValue ?? "undefined-condition", text: error?.text))
            }
            return receive(element)
        }
    }

    private mutating func receive(_ element: XMLElement) -> [Action] {
        switch state {
        case .awaitingFeatures:
            guard element.name == "features", element.namespace == Self.streamsNS else {
                return fail(LoginFailure(stage, "unexpected-element", text: "<\(element.name)/> instead of features"))
            }
            return authenticated ? featuresAfterAuth(element) : featuresBeforeAuth(element)
        case .awaitingProceed:
            guard element.namespace == Self.tlsNS else { return fail(LoginFailure(.tls, "unexpected-element", text: "<\(element.name)/>")) }
            guard element.name == "proceed" else { return fail(LoginFailure(.tls, element.name, text: "STARTTLS refused")) }
            state = .awaitingTLS
            return [.startTLS]
        case .authenticatingPLAIN:
            return saslResult(element, scram: nil)
        case .authenticatingSCRAM(let scram, let step):
            guard element.namespace == Self.saslNS else { return fail(LoginFailure(.sasl, "unexpected-element", text: "<\(element.name)/>")) }
            if element.name == "challenge" {
                return scramChallenge(element, scram: scram, step: step)
            }
            if element.name == "success", step == .awaitingServerFirst {
                return fail(LoginFailure(.sasl, "client-malformed-request", text: "success before any challenge"))
            }
            return saslResult(element, scram: step == .verified ? nil : scram)
        case .awaitingBind:
            return bindResult(element)
        case .awaitingSession:
            return sessionResult(element)
        case .ready:
            return []
        case .initial, .awaitingHeader, .awaitingTLS, .failed:
            return fail(LoginFailure(stage, "unexpected-element", text: "<\(element.name)/>"))
        }
    }

    // MARK: Steps

    private var header: String {
        "<?xml version='1.0'?><stream:stream to='\(Self.escape(options.domain))' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
    }

    private mutating func featuresBeforeAuth(_ features: XMLElement) -> [Action] {
        if options.startTLS && !tlsActive {
            guard features.child("starttls", namespace: Self.tlsNS) != nil else {
                return fail(LoginFailure(.tls, "starttls-not-offered"))
            }
            state = .awaitingProceed
            return [.send("<starttls xmlns='\(Self.tlsNS)'/>")]
        }
        let offered = features.child("mechanisms", namespace: Self.saslNS)?
            .children("mechanism", namespace: Self.saslNS).map(\.text) ?? []
        guard offered.contains(options.mechanism.rawValue) else {
            return fail(LoginFailure(.sasl, "mechanism-not-offered",
                                     text: "\(options.mechanism.rawValue) not in [\(offered.joined(separator: ", "))]"))
        }
        let initial: [UInt8]
        if let algorithm = options.mechanism.scramAlgorithm {
            let scram = SCRAMExchange(algorithm: algorithm, options: options, nonce: scramNonce)
            initial = scram.clientFirst()
            state = .authenticatingSCRAM(scram, .awaitingServerFirst)
        } else {
            initial = [0] + Array(options.username.utf8) + [0] + Array(options.password.utf8)
            state = .authenticatingPLAIN
        }
        return [.send("<auth xmlns='\(Self.saslNS)' mechanism='\(options.mechanism.rawValue)'>\(SASLBase64.encodeElementText(initial))</auth>")]
    }

    private mutating func scramChallenge(_ element: XMLElement, scram: SCRAMExchange, step: SCRAMStep) -> [Action] {
        var scram = scram
        do {
            guard let data = try SASLBase64.decodeElementText(element.text) else {
                return fail(LoginFailure(.sasl, "client-malformed-request", text: "empty challenge"))
            }
            switch step {
            case .awaitingServerFirst:
                let final = try scram.receiveServerFirst(data)
                state = .authenticatingSCRAM(scram, .awaitingServerFinal)
                return [.send("<response xmlns='\(Self.saslNS)'>\(SASLBase64.encodeElementText(final))</response>")]
            case .awaitingServerFinal:
                // Some servers send server-final in a challenge and an empty <success/> after.
                try scram.receiveServerFinal(data)
                state = .authenticatingSCRAM(scram, .verified)
                return [.send("<response xmlns='\(Self.saslNS)'/>")]
            case .verified:
                return fail(LoginFailure(.sasl, "client-malformed-request", text: "challenge after server-final"))
            }
        } catch {
            return fail(LoginFailure(.sasl, "client-" + error.condition.rawValue, text: error.text))
        }
    }

    /// `<success/>` or `<failure/>`. For SCRAM not yet verified, success must carry a valid
    /// server signature: a server that cannot prove it knows the password has not logged us in.
    private mutating func saslResult(_ element: XMLElement, scram: SCRAMExchange?) -> [Action] {
        guard element.namespace == Self.saslNS else { return fail(LoginFailure(.sasl, "unexpected-element", text: "<\(element.name)/>")) }
        switch element.name {
        case "success":
            if var scram {
                do {
                    guard let data = try SASLBase64.decodeElementText(element.text) else {
                        return fail(LoginFailure(.sasl, "client-not-authorized", text: "success without server signature"))
                    }
                    try scram.receiveServerFinal(data)
                } catch {
                    return fail(LoginFailure(.sasl, "client-" + error.condition.rawValue, text: error.text))
                }
            }
            authenticated = true
            state = .awaitingHeader
            return [.resetParser, .send(header)]
        case "failure":
            let condition = element.elements.first { $0.name != "text" }?.name ?? "undefined-condition"
            let text = element.child("text", namespace: Self.saslNS)?.text
            return fail(LoginFailure(.sasl, condition, text: text))
        default:
            return fail(LoginFailure(.sasl, "unexpected-element", text: "<\(element.name)/>"))
        }
    }

    private mutating func featuresAfterAuth(_ features: XMLElement) -> [Action] {
        guard features.child("bind", namespace: Self.bindNS) != nil else {
            return fail(LoginFailure(.bind, "bind-not-offered"))
        }
        if let session = features.child("session", namespace: Self.sessionNS) {
            sessionRequired = session.child("optional", namespace: Self.sessionNS) == nil
        }
        state = .awaitingBind
        let resource = options.resource.map { "<resource>\(Self.escape($0))</resource>" } ?? ""
        return [.send("<iq type='set' id='\(Self.bindID)'><bind xmlns='\(Self.bindNS)'>\(resource)</bind></iq>")]
    }

    private mutating func bindResult(_ element: XMLElement) -> [Action] {
        guard element.name == "iq", element.attribute("id") == Self.bindID else { return [] }
        guard element.attribute("type") == "result" else {
            let (condition, text) = Self.stanzaError(element)
            return fail(LoginFailure(.bind, condition, text: text))
        }
        guard let jid = element.child("bind", namespace: Self.bindNS)?.child("jid", namespace: Self.bindNS)?.text, !jid.isEmpty else {
            return fail(LoginFailure(.bind, "no-jid", text: "bind result without a JID"))
        }
        boundJID = jid
        if sessionRequired {
            state = .awaitingSession
            return [.send("<iq type='set' id='\(Self.sessionID)'><session xmlns='\(Self.sessionNS)'/></iq>")]
        }
        return becomeReady()
    }

    private mutating func sessionResult(_ element: XMLElement) -> [Action] {
        guard element.name == "iq", element.attribute("id") == Self.sessionID else { return [] }
        guard element.attribute("type") == "result" else {
            let (condition, text) = Self.stanzaError(element)
            return fail(LoginFailure(.session, condition, text: text))
        }
        return becomeReady()
    }

    private mutating func becomeReady() -> [Action] {
        state = .ready
        var actions: [Action] = []
        if options.sendPresence { actions.append(.send("<presence/>")) }
        actions.append(.ready(jid: boundJID ?? ""))
        return actions
    }

    private mutating func fail(_ failure: LoginFailure) -> [Action] {
        state = .failed
        return [.failed(failure)]
    }

    // MARK: Helpers

    /// The defined condition and text of an `<iq type='error'/>`.
    static func stanzaError(_ iq: XMLElement) -> (condition: String, text: String?) {
        guard let error = iq.child("error", namespace: XMLNamespace.jabberClient) else { return ("undefined-condition", nil) }
        let condition = error.elements.first { $0.namespace == XMLNamespace.xmppStanzas && $0.name != "text" }?.name ?? "undefined-condition"
        return (condition, error.child("text", namespace: XMLNamespace.xmppStanzas)?.text)
    }

    static func escape(_ value: String) -> String { value.xmlEscaped }
}

/// The SCRAM client of one login: the key-caching one when the password allows it, XMPPCore's
/// otherwise (see ``CachedSCRAMClient`` for why).
enum SCRAMExchange: Sendable {
    case core(SCRAMClient)
    case cached(CachedSCRAMClient)

    init(algorithm: SCRAMAlgorithm, options: LoginOptions, nonce: String?) {
        if options.cacheSCRAMKeys,
           let cached = CachedSCRAMClient(algorithm: algorithm, username: options.username, password: options.password,
                                          clientNonce: nonce, minimumIterations: options.minimumIterations) {
            self = .cached(cached)
        } else {
            self = .core(SCRAMClient(algorithm: algorithm, username: options.username, password: options.password,
                                     clientNonce: nonce, minimumIterations: options.minimumIterations))
        }
    }

    func clientFirst() -> [UInt8] {
        switch self {
        case .core(let client): client.clientFirst()
        case .cached(let client): client.clientFirst()
        }
    }

    mutating func receiveServerFirst(_ message: [UInt8]) throws(SASLError) -> [UInt8] {
        switch self {
        case .core(var client):
            defer { self = .core(client) }
            return try client.receiveServerFirst(message)
        case .cached(var client):
            defer { self = .cached(client) }
            return try client.receiveServerFirst(message)
        }
    }

    mutating func receiveServerFinal(_ message: [UInt8]) throws(SASLError) {
        switch self {
        case .core(var client):
            defer { self = .core(client) }
            try client.receiveServerFinal(message)
        case .cached(var client):
            defer { self = .cached(client) }
            try client.receiveServerFinal(message)
        }
    }
}
