import NIOCore
import Testing
@testable import XMPPCore

@Suite("XMLStreamParser: well-formed streams")
struct XMLStreamParserTests {
    /// A client stream with the usual variety: XML declaration, namespaces declared on the
    /// header and on children, a prefixed attribute, xml:lang, predefined entities, character
    /// references, CDATA, multi-byte UTF-8 (2, 3 and 4 bytes), whitespace keepalives, close.
    static let clientStream = """
        <?xml version='1.0' encoding='UTF-8'?>
        <stream:stream from='juliet@im.example.com' to='im.example.com' version='1.0' xml:lang='en' \
        xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>
        <iq type='set' id='bind_1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>balcony</resource></bind></iq> \
        <message from='juliet@im.example.com/balcony' id='ktx72v49' to='romeo@example.net' type='chat' xml:lang='en'>\
        <body>Art thou not Romeo, &amp; a Montague? &lt;3 &gt; &quot;&apos; &#x1F339;&#233;&#10;</body>\
        <body xml:lang='ja'>ロミオ、あなたはどうしてロミオなの？</body>\
        <x:data xmlns:x='jabber:x:data' x:type='form' note='a &amp; b &lt; c'/>\
        <raw><![CDATA[<not-a-tag> & stuff]]></raw>\
        </message>
        \t<presence><show>away</show><status>💤 Ünïcödé</status>\
        <c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='http://psi-im.org' ver='q07IKJEyjvHSyhy//CH0CxmKi8w='/>\
        </presence>
        <stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>
        </stream:stream>
        """

    static let bytes = Array(clientStream.utf8)

    @Test func parsesTheRealisticStreamWhole() throws {
        let parser = XMLStreamParser()
        let events = try parser.feed(Self.bytes)
        #expect(events.count == 6)

        guard case .streamOpen(let header) = events.first else { Issue.record("no stream header"); return }
        #expect(header.name == "stream")
        #expect(header.namespace == XMLNamespace.streams)
        #expect(header.attribute("to") == "im.example.com")
        #expect(header.attribute("from") == "juliet@im.example.com")
        #expect(header.attribute("version") == "1.0")
        #expect(header.attribute("xml:lang") == "en")
        #expect(header.attributes.map(\.name) == ["from", "to", "version", "xml:lang"])
        #expect(header.children.isEmpty)
        #expect(parser.streamContentNamespace == "jabber:client")
        #expect(parser.streamNamespaceDeclarations == ["": "jabber:client", "stream": XMLNamespace.streams])
        #expect(parser.streamHeader == header)
        #expect(events.last == .streamClose)
        #expect(parser.isStreamClosed)

        let stanzas = XMLTest.stanzas(events)
        #expect(stanzas.map(\.name) == ["iq", "message", "presence", "features"])
        #expect(stanzas.map(\.namespace) == ["jabber:client", "jabber:client", "jabber:client", XMLNamespace.streams])

        let iq = stanzas[0]
        #expect(iq == XMLElement(
            name: "iq", namespace: "jabber:client", attributes: ["type": "set", "id": "bind_1"],
            children: [.element(XMLElement(
                name: "bind", namespace: "urn:ietf:params:xml:ns:xmpp-bind",
                children: [.element(XMLElement(name: "resource", namespace: "urn:ietf:params:xml:ns:xmpp-bind", text: "balcony"))]))]))

        let message = stanzas[1]
        #expect(message.attribute("xml:lang") == "en")
        #expect(message.attribute("lang", namespace: XMLNamespace.xml) == "en")
        let bodies = message.children("body", namespace: "jabber:client")
        #expect(bodies.count == 2)
        #expect(bodies[0].text == "Art thou not Romeo, & a Montague? <3 > \"' 🌹é\n")
        #expect(bodies[1].text == "ロミオ、あなたはどうしてロミオなの？")
        #expect(bodies[1].attribute("xml:lang") == "ja")
        let data = try #require(message.child("data", namespace: "jabber:x:data"))
        #expect(data.attributes == [
            XMLAttribute(name: "type", namespace: "jabber:x:data", value: "form"),
            XMLAttribute(name: "note", value: "a & b < c"),
        ])
        #expect(data.attribute("type") == nil)  // prefixed: only reachable with its namespace
        #expect(data.attribute("type", namespace: "jabber:x:data") == "form")
        #expect(message.child("raw", namespace: "jabber:client")?.text == "<not-a-tag> & stuff")
        #expect(message.children.allSatisfy { if case .element = $0 { true } else { false } })

        let presence = stanzas[2]
        #expect(presence.child("status", namespace: "jabber:client")?.text == "💤 Ünïcödé")
        #expect(presence.child("c", namespace: "http://jabber.org/protocol/caps")?.attribute("ver") == "q07IKJEyjvHSyhy//CH0CxmKi8w=")

        let features = stanzas[3]
        #expect(features.child("starttls", namespace: "urn:ietf:params:xml:ns:xmpp-tls")?.elements.map(\.name) == ["required"])
    }

    @Test func byteByByteAndEverySplitGiveIdenticalEvents() throws {
        let whole = try XMLStreamParser().feed(Self.bytes)

        let byteParser = XMLStreamParser()
        var byteEvents: [XMLStreamEvent] = []
        for byte in Self.bytes { byteEvents += try byteParser.feed([byte]) }
        #expect(byteEvents == whole)

        // Every cut, including inside tags, entities and multi-byte characters.
        var mismatches: [Int] = []
        for cut in 0...Self.bytes.count {
            let parser = XMLStreamParser()
            let events = try parser.feed(Array(Self.bytes[..<cut])) + parser.feed(Array(Self.bytes[cut...]))
            if events != whole { mismatches.append(cut) }
        }
        #expect(mismatches.isEmpty)
    }

    @Test func eventsArriveWithTheByteThatCompletesThem() throws {
        // A stanza must be delivered as soon as its end tag is complete, not when more data comes.
        let parser = XMLStreamParser()
        var arrivals: [Int] = []
        for (index, byte) in Self.bytes.enumerated() {
            for _ in try parser.feed([byte]) { arrivals.append(index) }
        }
        let text = Self.clientStream
        func end(of marker: String) -> Int {
            let range = text.utf8.firstRange(of: marker.utf8)!
            return text.utf8.distance(from: text.utf8.startIndex, to: range.upperBound) - 1
        }
        #expect(arrivals == [
            end(of: "xmlns:stream='http://etherx.jabber.org/streams'>"), end(of: "</iq>"), end(of: "</message>"),
            end(of: "</presence>"), end(of: "</stream:features>"), end(of: "</stream:stream>"),
        ])
    }

    @Test func byteBufferAndRawOverloadsAgree() throws {
        let expected = try XMLStreamParser().feed(Self.bytes)
        var buffer = ByteBufferAllocator().buffer(capacity: 16)
        buffer.writeBytes(Self.bytes)
        #expect(try XMLStreamParser().feed(buffer) == expected)
        #expect(buffer.readableBytes == Self.bytes.count)  // not consumed
        let raw = try Self.bytes.withUnsafeBytes { raw throws(XMLStreamError) in try XMLStreamParser().feed(raw) }
        #expect(raw == expected)
    }

    @Test func largeInputIsParsedInSlicesWithoutChangingEvents() throws {
        // Many stanzas in one 1 MiB feed: sliced internally, same result as small feeds.
        let stanza = "<message to='a@b' id='x'><body>\(String(repeating: "payload ", count: 100))</body></message>"
        let input = XMLTest.stream(String(repeating: stanza, count: 1300))
        let whole = XMLTest.parse(input)
        #expect(whole.error == nil)
        #expect(XMLTest.stanzas(whole.events).count == 1300)
        #expect(XMLTest.parse(input, chunkSizes: [1000, 1]) == whole)
    }

    @Test func prefixFreeStreamWithoutContentNamespace() throws {
        // RFC 6120 §4.8.2 allows qualifying every first-level element instead of a default.
        let input = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>"
            + "<message xmlns='jabber:client' to='a@b'/><stream:features/>"
        let parser = XMLStreamParser()
        let events = try parser.feed(Array(input.utf8))
        #expect(parser.streamContentNamespace == nil)
        #expect(XMLTest.stanzas(events).map(\.namespace) == ["jabber:client", XMLNamespace.streams])
    }

    @Test func otherStreamPrefixAndDefaultNamespaceForms() throws {
        // Namespace-aware: the prefix is irrelevant, only the namespace URI counts.
        let input = "<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:server'><s:features/><message/>"
        let events = try XMLStreamParser().feed(Array(input.utf8))
        #expect(XMLTest.stanzas(events).map { "\($0.namespace!) \($0.name)" } == [
            "\(XMLNamespace.streams) features", "jabber:server message",
        ])
    }

    @Test func whitespaceKeepalivesProduceNoEvents() throws {
        let parser = XMLStreamParser()
        _ = try parser.feed(XMLTest.stream(""))
        for _ in 0..<1000 { #expect(try parser.feed(Array(" \n\t\r\n".utf8)).isEmpty) }
        #expect(try parser.feed(Array("<presence/>".utf8)) == [.stanza(XMLElement(name: "presence", namespace: "jabber:client"))])
    }

    @Test func resetStartsANewDocument() throws {
        let parser = XMLStreamParser()
        var events = try parser.feed(XMLTest.stream("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"))
        #expect(events.count == 2)
        // Half a stanza that will be discarded by the restart.
        events = try parser.feed(Array("<message><bo".utf8))
        #expect(events.isEmpty)

        parser.reset()
        #expect(parser.streamHeader == nil)
        #expect(parser.streamContentNamespace == nil)
        let restarted = """
            <?xml version='1.0'?><stream:stream to='im.example.com' version='1.0' xmlns='jabber:server' \
            xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback'><db:result/>
            """
        events = try parser.feed(Array(restarted.utf8))
        #expect(events.count == 2)
        #expect(parser.streamContentNamespace == "jabber:server")
        #expect(parser.streamNamespaceDeclarations["db"] == "jabber:server:dialback")
        #expect(XMLTest.stanzas(events).first == XMLElement(name: "result", namespace: "jabber:server:dialback"))
    }

    @Test func resetAfterStreamCloseAndRepeatedResets() throws {
        let parser = XMLStreamParser()
        for round in 0..<5 {
            let input = XMLTest.stream("<message id='\(round)'/></stream:stream>")
            let outcome = XMLTest.parse(input, chunkSizes: [round + 1], parser: parser)
            #expect(outcome.error == nil)
            #expect(outcome.events.count == 3)
            #expect(XMLTest.stanzas(outcome.events).first?.attribute("id") == "\(round)")
            parser.reset()
        }
    }

    @Test func stanzaLimitIsExactAfterReset() throws {
        // The byte counters restart with the document; a reset parser must measure the same.
        let limits = XMLStreamLimits(maxStanzaBytes: 1000)
        let parser = XMLStreamParser(limits: limits)
        _ = try parser.feed(XMLTest.stream(String(repeating: "<presence/>", count: 500)))
        parser.reset()
        let exact = XMLStreamLimitTests.message(ofSize: 1000)
        #expect(XMLTest.parse(XMLTest.stream(exact), chunkSizes: [7], parser: parser).error == nil)
        parser.reset()
        let over = XMLStreamLimitTests.message(ofSize: 1001)
        #expect(XMLTest.parse(XMLTest.stream(over), chunkSizes: [7], parser: parser).condition == .policyViolation)
    }

    @Test func failedParserStaysFailedEvenAfterReset() throws {
        let parser = XMLStreamParser()
        let first = XMLTest.parse(XMLTest.stream("<message><!-- no --></message>"), parser: parser)
        #expect(first.condition == .restrictedXML)
        #expect(parser.failure == first.error)
        #expect(throws: first.error!) { try parser.feed(Array("<presence/>".utf8)) }
        parser.reset()
        #expect(throws: first.error!) { try parser.feed(XMLTest.stream("")) }
    }

    @Test func eventsBeforeAnErrorAreStillDelivered() throws {
        let outcome = XMLTest.parseEverySplit(XMLTest.stream("<presence/><message>&bogus;</message>"))
        #expect(outcome.condition == .restrictedXML)
        #expect(outcome.events.count == 2)
    }
}
