import Testing
@testable import XMPPCore

@Suite("Stream and stanza errors")
struct ErrorsRenderingTests {
    @Test func streamErrorRendersTheRFCForm() {
        let error = StreamError(.notWellFormed, text: "x < y")
        #expect(error.serialized() == """
            <stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
            <text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>x &lt; y</text></stream:error>
            """)
        #expect(StreamError(.conflict).serialized() == "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>")
        #expect(StreamError.seeOtherHost("[2001:db8::1]:5222").serialized() == """
            <stream:error><see-other-host xmlns='urn:ietf:params:xml:ns:xmpp-streams'>[2001:db8::1]:5222</see-other-host></stream:error>
            """)
    }

    @Test func everyStreamErrorParsesBack() throws {
        #expect(StreamErrorCondition.allCases.count == 25)
        for condition in StreamErrorCondition.allCases {
            let error = StreamError(condition, text: "why & how", textLanguage: "en",
                                    applicationCondition: XMLElement(name: "too-many", namespace: "urn:example:app"))
            let parsed = try #require(XMLTest.parseElement(error.serialized()))
            #expect(parsed.name == "error")
            #expect(parsed.namespace == XMLNamespace.streams)
            #expect(parsed.elements.first?.name == condition.rawValue)
            #expect(parsed.elements.first?.namespace == XMLNamespace.xmppStreams)
            #expect(parsed == error.element)
            #expect(StreamError(parsed) == error)
        }
    }

    @Test func streamErrorFromParserFailure() {
        let failure = XMLTest.parse(XMLTest.stream("<message><!-- x --></message>")).error!
        let error = StreamError(failure)
        #expect(error.condition == .restrictedXML)
        #expect(XMLTest.parseElement(error.serialized()).flatMap(StreamError.init)?.condition == .restrictedXML)
    }

    @Test func unknownStreamConditionReadsAsUndefined() {
        let element = XMLElement(name: "error", namespace: XMLNamespace.streams, children: [
            .element(XMLElement(name: "made-up", namespace: XMLNamespace.xmppStreams)),
        ])
        #expect(StreamError(element)?.condition == .undefinedCondition)
        #expect(StreamError(XMLElement(name: "error", namespace: "jabber:client")) == nil)
    }

    @Test func stanzaConditionsHaveTheirRFCDefaultTypes() {
        #expect(StanzaErrorCondition.allCases.count == 22)
        let expected: [StanzaErrorCondition: StanzaErrorType] = [
            .badRequest: .modify, .conflict: .cancel, .featureNotImplemented: .cancel, .forbidden: .auth, .gone: .cancel,
            .internalServerError: .cancel, .itemNotFound: .cancel, .jidMalformed: .modify, .notAcceptable: .modify,
            .notAllowed: .cancel, .notAuthorized: .auth, .policyViolation: .modify, .recipientUnavailable: .wait,
            .redirect: .modify, .registrationRequired: .auth, .remoteServerNotFound: .cancel, .remoteServerTimeout: .wait,
            .resourceConstraint: .wait, .serviceUnavailable: .cancel, .subscriptionRequired: .auth,
            .undefinedCondition: .cancel, .unexpectedRequest: .wait,
        ]
        for condition in StanzaErrorCondition.allCases { #expect(condition.defaultType == expected[condition], "\(condition)") }
    }

    static let iq = XMLElement(
        name: "iq", namespace: "jabber:client",
        attributes: ["from": "juliet@im.example.com/balcony", "to": "romeo@example.net", "id": "q1", "type": "get", "xml:lang": "en"],
        children: [.element(XMLElement(name: "query", namespace: "jabber:iq:roster"))])

    @Test func replyToAnIQ() throws {
        let reply = StanzaError(.serviceUnavailable, text: "nope").reply(to: Self.iq, by: "example.net")
        #expect(reply.serialized(parentNamespace: "jabber:client") == """
            <iq to='juliet@im.example.com/balcony' from='romeo@example.net' id='q1' xml:lang='en' type='error'>\
            <error type='cancel' by='example.net'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
            <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>nope</text></error></iq>
            """)
        let withPayload = StanzaError(.itemNotFound).reply(to: Self.iq, by: nil, includingPayload: true)
        #expect(withPayload.elements.map(\.name) == ["query", "error"])
        #expect(withPayload.child("error", namespace: "jabber:client")?.attribute("by") == nil)
    }

    @Test func replyWithoutFromOmitsTo() {
        let message = XMLElement(name: "message", namespace: "jabber:client", attributes: ["to": "romeo@example.net"])
        let reply = StanzaError(.recipientUnavailable).reply(to: message, by: nil)
        #expect(reply.attribute("to") == nil)
        #expect(reply.attribute("from") == "romeo@example.net")
        #expect(reply.attribute("id") == nil)
        #expect(reply.attribute("type") == "error")
        #expect(reply.child("error", namespace: "jabber:client")?.attribute("type") == "wait")
    }

    @Test func everyStanzaErrorParsesBack() throws {
        for condition in StanzaErrorCondition.allCases {
            let error = StanzaError(condition, text: "t", textLanguage: "en", conditionContent: condition == .gone ? "xmpp:a@b" : nil,
                                    applicationCondition: XMLElement(name: "invalid-jid", namespace: "http://jabber.org/protocol/pubsub#errors"))
            let reply = error.reply(to: Self.iq, by: "example.net")
            let parsed = try #require(XMLTest.parseElement(reply.serialized(parentNamespace: "jabber:client")))
            #expect(parsed == reply)
            let errorElement = try #require(parsed.child("error", namespace: "jabber:client"))
            #expect(errorElement.elements.first?.name == condition.rawValue)
            #expect(errorElement.elements.first?.namespace == XMLNamespace.xmppStanzas)
            #expect(StanzaError(errorElement) == error)
        }
    }

    @Test func explicitTypeOverridesTheDefault() {
        #expect(StanzaError(.policyViolation, type: .wait).type == .wait)
        #expect(StanzaError(.policyViolation).type == .modify)
    }
}
