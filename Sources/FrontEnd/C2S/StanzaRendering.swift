import Foundation
import MMGSShared
import NIOCore
import StanzaRouting
import XMPPCore

/// The XML the front-end writes on its own behalf: stream headers and features, SASL and bind
/// answers, server IQ replies, roster pushes, delay stamps.
enum StanzaRendering {
    static let streamsNS = XMLNamespace.streams
    static let saslNS = XMLNamespace.sasl
    static let tlsNS = XMLNamespace.tls
    static let bindNS = XMLNamespace.bind
    static let sessionNS = XMLNamespace.session
    static let rosterNS = "jabber:iq:roster"
    static let pingNS = "urn:xmpp:ping"
    static let discoInfoNS = "http://jabber.org/protocol/disco#info"
    static let discoItemsNS = "http://jabber.org/protocol/disco#items"
    static let delayNS = "urn:xmpp:delay"
    static let smNS = "urn:xmpp:sm:3"
    static let csiNS = "urn:xmpp:csi:0"
    static let carbonsNS = "urn:xmpp:carbons:2"
    static let hintsNS = "urn:xmpp:hints"

    static func escape(_ value: String) -> String { value.xmlEscaped }

    static func streamHeader(domain: String, id: String) -> String {
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='\(streamsNS)' id='\(id)' from='\(escape(domain))' version='1.0' xml:lang='en'>"
    }

    static func featuresBeforeAuth(mechanisms: [String], startTLS: Bool, required: Bool) -> String {
        var xml = "<stream:features>"
        if startTLS { xml += required ? "<starttls xmlns='\(tlsNS)'><required/></starttls>" : "<starttls xmlns='\(tlsNS)'/>" }
        if !mechanisms.isEmpty {
            xml += "<mechanisms xmlns='\(saslNS)'>"
            for mechanism in mechanisms { xml += "<mechanism>\(mechanism)</mechanism>" }
            xml += "</mechanisms>"
        }
        xml += "</stream:features>"
        return xml
    }

    static func featuresAfterAuth(resumeWindow: Duration) -> String {
        "<stream:features><bind xmlns='\(bindNS)'/><session xmlns='\(sessionNS)'><optional/></session>"
            + "<sm xmlns='\(smNS)'/><csi xmlns='\(csiNS)'/></stream:features>"
    }

    static func saslFailure(_ error: SASLError) -> String {
        "<failure xmlns='\(saslNS)'><\(error.condition.rawValue)/><text xml:lang='en'>\(escape(error.text))</text></failure>"
    }

    static func iqResult(id: String?, to: String?, from: String?, payload: XMLElement? = nil) -> XMLElement {
        var attributes: [XMLAttribute] = [XMLAttribute(name: "type", value: "result")]
        if let id { attributes.append(XMLAttribute(name: "id", value: id)) }
        if let to { attributes.append(XMLAttribute(name: "to", value: to)) }
        if let from { attributes.append(XMLAttribute(name: "from", value: from)) }
        return XMLElement(name: "iq", namespace: XMLNamespace.jabberClient, attributes: attributes, children: payload.map { [.element($0)] } ?? [])
    }

    static func rosterItem(_ item: RosterItem) -> XMLElement {
        var attributes = [XMLAttribute(name: "jid", value: item.jid), XMLAttribute(name: "subscription", value: item.subscription.rawValue)]
        if let name = item.name { attributes.append(XMLAttribute(name: "name", value: name)) }
        if item.askSubscribe && item.subscription != .remove { attributes.append(XMLAttribute(name: "ask", value: "subscribe")) }
        let groups: [XMLNode] = item.groups.map { .element(XMLElement(name: "group", namespace: rosterNS, children: [.text($0)])) }
        return XMLElement(name: "item", namespace: rosterNS, attributes: attributes, children: groups)
    }

    static func rosterQuery(_ items: [RosterItem]) -> XMLElement {
        XMLElement(name: "query", namespace: rosterNS, children: items.map { .element(rosterItem($0)) })
    }

    static func rosterPush(_ item: RosterItem, to: String) -> XMLElement {
        let id = "push-" + String(UInt64.random(in: 0 ... .max), radix: 36)
        return XMLElement(name: "iq", namespace: XMLNamespace.jabberClient,
                          attributes: [XMLAttribute(name: "type", value: "set"), XMLAttribute(name: "id", value: id), XMLAttribute(name: "to", value: to)],
                          children: [.element(rosterQuery([item]))])
    }

    static func discoInfo(features: [String]) -> XMLElement {
        var children: [XMLNode] = [.element(XMLElement(name: "identity", namespace: discoInfoNS, attributes: ["category": "server", "type": "im", "name": "MMGS"]))]
        for feature in features { children.append(.element(XMLElement(name: "feature", namespace: discoInfoNS, attributes: ["var": feature]))) }
        return XMLElement(name: "query", namespace: discoInfoNS, children: children)
    }

    /// XEP-0203: `<delay xmlns='urn:xmpp:delay' from='domain' stamp='…Z'/>`.
    static func delay(millis: UInt64, domain: String) -> XMLElement {
        let date = Date(timeIntervalSince1970: Double(millis) / 1000)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return XMLElement(name: "delay", namespace: delayNS, attributes: ["from": domain, "stamp": formatter.string(from: date)])
    }

    /// Parses stanza bytes that this front-end (or another) serialised in the jabber:client
    /// namespace.
    static func parseStanza(_ bytes: ByteBuffer) -> XMLElement? {
        let parser = XMLStreamParser(acceptedContentNamespaces: [XMLNamespace.jabberClient])
        var events: [XMLStreamEvent] = []
        do {
            events += try parser.feed(Array("<stream:stream xmlns='jabber:client' xmlns:stream='\(streamsNS)'>".utf8))
            events += try parser.feed(bytes)
        } catch {
            return nil
        }
        for event in events { if case .stanza(let element) = event { return element } }
        return nil
    }
}
