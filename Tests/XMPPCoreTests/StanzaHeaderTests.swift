import Testing
@testable import XMPPCore

@Suite("StanzaHeader")
struct StanzaHeaderTests {
    @Test func extractsRoutingAttributes() throws {
        let element = try #require(XMLTest.parseElement("""
            <message to='Romeo@Example.net/Orchard' from='juliet@im.example.com/balcony' type='chat' id='m1' xml:lang='en'>\
            <body>hi</body></message>
            """))
        let header = try StanzaHeader(element)
        #expect(header.kind == .message)
        #expect(header.isStanza)
        #expect(header.namespace == "jabber:client")
        #expect(header.to == JID("romeo@example.net/Orchard"))
        #expect(header.from == JID("juliet@im.example.com/balcony"))
        #expect(header.type == "chat")
        #expect(header.id == "m1")
        #expect(header.language == "en")
    }

    @Test func kinds() throws {
        #expect(try StanzaHeader(XMLElement(name: "presence", namespace: "jabber:client")).kind == .presence)
        #expect(try StanzaHeader(XMLElement(name: "iq", namespace: "jabber:server")).kind == .iq)
        #expect(try StanzaHeader(XMLElement(name: "message", namespace: "jabber:component:accept")).kind == .message)
        let features = try StanzaHeader(XMLElement(name: "features", namespace: XMLNamespace.streams))
        #expect(features.kind == .other("features"))
        #expect(!features.isStanza)
        #expect(try StanzaHeader(XMLElement(name: "message", namespace: "urn:not-a-stanza")).kind == .other("message"))
        #expect(try StanzaHeader(XMLElement(name: "message")).kind == .other("message"))
        let bare = try StanzaHeader(XMLElement(name: "presence", namespace: "jabber:client"))
        #expect(bare.to == nil && bare.from == nil && bare.type == nil && bare.id == nil)
    }

    @Test func malformedAddressesBecomeJidMalformed() throws {
        let element = XMLElement(name: "iq", namespace: "jabber:client", attributes: ["to": "a@b@c", "id": "x", "type": "get"])
        do {
            _ = try StanzaHeader(element)
            Issue.record("expected an error")
        } catch {
            #expect(error.attribute == .to)
            #expect(error.value == "a@b@c")
            #expect(error.reason == .invalidDomainpart)
            #expect(error.condition == .jidMalformed)
            #expect(error.stanzaError.condition == .jidMalformed)
            #expect(error.stanzaError.type == .modify)
            let reply = error.stanzaError.reply(to: element, by: nil)
            #expect(reply.attribute("id") == "x")
            #expect(reply.child("error", namespace: "jabber:client")?.child("jid-malformed", namespace: XMLNamespace.xmppStanzas) != nil)
        }
        #expect(throws: StanzaHeaderError(attribute: .from, value: "", reason: .emptyDomainpart)) {
            try StanzaHeader(XMLElement(name: "message", namespace: "jabber:client", attributes: ["from": ""]))
        }
    }
}
