import NIOCore
import Testing
@testable import XMPPCore

@Suite("XMLElement: accessors and serialization")
struct XMLElementTests {
    @Test func escapesTextAndAttributes() {
        let element = XMLElement(
            name: "message", namespace: "jabber:client",
            attributes: ["to": "a'b\"c<d>e&f", "note": "tab\there\nline\rcr"],
            children: [.text("1 < 2 & 3 > 2 \r\n 'q' \"qq\"")])
        #expect(element.serialized(parentNamespace: "jabber:client") == """
            <message to='a&apos;b&quot;c&lt;d&gt;e&amp;f' note='tab&#9;here&#10;line&#13;cr'>\
            1 &lt; 2 &amp; 3 &gt; 2 &#13;\n 'q' "qq"</message>
            """)
    }

    @Test func replacesCharactersXMLCannotCarry() {
        let element = XMLElement(name: "body", text: "a\u{0}b\u{1B}c\u{FFFE}d\u{FFFF}e\u{FFFD}")
        #expect(element.serialized() == "<body>a\u{FFFD}b\u{FFFD}c\u{FFFD}d\u{FFFD}e\u{FFFD}</body>")
    }

    @Test func declaresNamespacesOnlyWhereTheyChange() {
        let element = XMLElement(
            name: "iq", namespace: "jabber:client", attributes: ["type": "result", "xml:lang": "fr"],
            children: [
                .element(XMLElement(name: "query", namespace: "jabber:iq:roster", children: [
                    .element(XMLElement(name: "item", namespace: "jabber:iq:roster", attributes: ["jid": "a@b"])),
                    .element(XMLElement(name: "plain")),
                ])),
                .element(XMLElement(name: "same", namespace: "jabber:client")),
            ])
        #expect(element.serialized(parentNamespace: "jabber:client") == """
            <iq type='result' xml:lang='fr'><query xmlns='jabber:iq:roster'><item jid='a@b'/><plain xmlns=''/></query><same/></iq>
            """)
        #expect(element.serialized().hasPrefix("<iq xmlns='jabber:client' "))
    }

    @Test func prefixesNamespacedAttributes() {
        let element = XMLElement(name: "x", namespace: "jabber:x:data", attributes: [
            XMLAttribute(name: "a", namespace: "urn:one", value: "1"),
            XMLAttribute(name: "b", namespace: "urn:two", value: "2"),
            XMLAttribute(name: "c", namespace: "urn:one", value: "3"),
            XMLAttribute(name: "lang", namespace: XMLNamespace.xml, value: "de"),
        ])
        #expect(element.serialized(parentNamespace: "jabber:x:data") == """
            <x xmlns:ns0='urn:one' xmlns:ns1='urn:two' ns0:a='1' ns1:b='2' ns0:c='3' xml:lang='de'/>
            """)
    }

    @Test func accessors() {
        var element = XMLElement(
            name: "message", namespace: "jabber:client", attributes: ["to": "a@b", "xml:lang": "en"],
            children: [
                .text("x"), .element(XMLElement(name: "body", namespace: "jabber:client", text: "hi")), .text("y"),
                .element(XMLElement(name: "body", namespace: "urn:other", text: "other")),
            ])
        #expect(element.attribute("to") == "a@b")
        #expect(element.attribute("xml:lang") == "en")
        #expect(element.attribute("missing") == nil)
        #expect(element.text == "xy")
        #expect(element.elements.count == 2)
        #expect(element.child("body", namespace: "jabber:client")?.text == "hi")
        #expect(element.child("body", namespace: "urn:other")?.text == "other")
        #expect(element.child("body", namespace: nil) == nil)
        element.setAttribute("to", to: "c@d")
        element.setAttribute("from", to: "e@f")
        element.setAttribute("xml:lang", to: nil)
        #expect(element.attributes.map(\.name) == ["to", "from"])
        #expect(element.attribute("to") == "c@d")
    }

    @Test func writesIntoByteBuffer() {
        var buffer = ByteBufferAllocator().buffer(capacity: 4)
        buffer.writeString("prefix:")
        XMLElement(name: "presence", namespace: "jabber:client").write(into: &buffer, parentNamespace: "jabber:client")
        #expect(String(buffer: buffer) == "prefix:<presence/>")
    }

    @Test func parsedStanzasRoundTrip() throws {
        let original = XMLTest.stanzas(try XMLStreamParser().feed(XMLStreamParserTests.bytes))
        #expect(original.count == 4)
        let reserialized = original.map { $0.serialized(parentNamespace: "jabber:client") }.joined(separator: "\n")
        let again = XMLTest.stanzas(XMLTest.parse(XMLTest.stream(reserialized)).events)
        #expect(again == original)
    }

    @Test func builtElementsWithAwkwardContentRoundTrip() {
        let element = XMLElement(
            name: "message", namespace: "jabber:client",
            attributes: [
                XMLAttribute(name: "to", value: " spaced\tvalue\n\r 'quoted' \"double\" <&> "),
                XMLAttribute(name: "xml:lang", namespace: XMLNamespace.xml, value: "en"),
                XMLAttribute(name: "attr", namespace: "urn:ext", value: "ext"),
            ],
            children: [
                .element(XMLElement(name: "body", namespace: "jabber:client", text: "CR\r\nLF ]]> <![CDATA[ &amp; 🌹 ç")),
                .element(XMLElement(name: "unqualified", children: [.element(XMLElement(name: "inner", namespace: "urn:x"))])),
                .element(XMLElement(name: "empty", namespace: "urn:y", text: "")),
            ])
        for parent in ["jabber:client", "urn:unrelated"] {
            let xml = element.serialized(parentNamespace: parent)
            let wrapped = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='\(parent)'>" + xml
            let parsed = XMLTest.stanzas(XMLTest.parse(Array(wrapped.utf8), parser: XMLStreamParser(acceptedContentNamespaces: nil)).events)
            #expect(parsed == [element], "\(xml)")
        }
    }
}
