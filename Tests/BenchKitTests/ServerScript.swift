@testable import BenchKit
import XMPPCore

/// Plays the server side of a login against a ``ClientStreamMachine`` without sockets: server
/// XML goes through a real ``XMLStreamParser`` (reset when the machine says so, as the channel
/// handler does), and the bytes the client would write are collected.
struct ServerScript {
    var machine: ClientStreamMachine
    let parser = XMLStreamParser(acceptedContentNamespaces: [XMLNamespace.jabberClient])
    /// Everything the client wrote, in order.
    var written: [String] = []
    var readyJID: String?
    var failure: LoginFailure?
    var tlsRequested = false

    init(_ options: LoginOptions, nonce: String? = "fyko+d2lbbFgONRv9qkxdawL") {
        machine = ClientStreamMachine(options: options, scramNonce: nonce)
    }

    static let header = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='example.net' version='1.0'>"
    static let sasl = "urn:ietf:params:xml:ns:xmpp-sasl"

    static func features(_ mechanisms: [String], startTLS: Bool = false) -> String {
        "<stream:features>" + (startTLS ? "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" : "")
            + "<mechanisms xmlns='\(sasl)'>" + mechanisms.map { "<mechanism>\($0)</mechanism>" }.joined() + "</mechanisms></stream:features>"
    }

    static let bindFeatures = "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session></stream:features>"

    mutating func start() { apply(machine.start()) }

    /// Feeds server bytes; returns what the client wrote in response.
    @discardableResult
    mutating func feed(_ xml: String) -> [String] {
        let before = written.count
        let events = (try? parser.feed(Array(xml.utf8))) ?? []
        for event in events {
            if apply(machine.receive(event)) { break }
        }
        return Array(written[before...])
    }

    @discardableResult
    mutating func tlsStarted() -> [String] {
        let before = written.count
        apply(machine.tlsStarted())
        return Array(written[before...])
    }

    /// True when the parser was reset (later events of the same read are dropped).
    @discardableResult
    mutating func apply(_ actions: [ClientStreamMachine.Action]) -> Bool {
        var reset = false
        for action in actions {
            switch action {
            case .send(let text): written.append(text)
            case .resetParser: parser.reset(); reset = true
            case .startTLS: tlsRequested = true
            case .ready(let jid): readyJID = jid
            case .failed(let failure): self.failure = failure
            }
        }
        return reset
    }

    /// The text of `<auth>`/`<response>` in `xml`, base64-decoded.
    static func saslPayload(_ xml: String) -> [UInt8]? {
        let parser = XMLStreamParser(acceptedContentNamespaces: [XMLNamespace.jabberClient])
        let events = (try? parser.feed(Array((header + xml).utf8))) ?? []
        for case .stanza(let element) in events {
            return (try? SASLBase64.decodeElementText(element.text)) ?? nil
        }
        return nil
    }
}
