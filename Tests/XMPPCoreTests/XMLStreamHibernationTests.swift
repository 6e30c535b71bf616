import NIOCore
import Testing
@testable import XMPPCore

/// An idle stream's parser may release expat between stanzas and rebuild it on the next
/// bytes; what the peer sees (events, errors, limits) must not change.
@Suite("XMLStreamParser: hibernation between stanzas")
struct XMLStreamHibernationTests {
    static let bytes = XMLStreamParserTests.bytes

    @Test func hibernatingAfterEveryByteGivesIdenticalEvents() throws {
        let whole = try XMLStreamParser().feed(Self.bytes)
        let parser = XMLStreamParser()
        var events: [XMLStreamEvent] = []
        var hibernations = 0
        for byte in Self.bytes {
            events += try parser.feed([byte])
            if parser.hibernate() { hibernations += 1 }
        }
        #expect(events == whole)
        // At rest after </iq>, </message>, </presence>, </stream:features> and between them
        // (whitespace), never inside an element.
        #expect(hibernations >= 4)
    }

    @Test func hibernatingAtEveryCutGivesIdenticalEvents() throws {
        let whole = try XMLStreamParser().feed(Self.bytes)
        var mismatches: [Int] = []
        for cut in 0...Self.bytes.count {
            let parser = XMLStreamParser()
            var events = try parser.feed(Array(Self.bytes[..<cut]))
            parser.hibernate()
            events += try parser.feed(Array(Self.bytes[cut...]))
            if events != whole { mismatches.append(cut) }
        }
        #expect(mismatches.isEmpty)
    }

    @Test func onlyAtRestInsideTheStream() throws {
        let parser = XMLStreamParser()
        #expect(!parser.hibernate(), "no stream header yet")
        _ = try parser.feed(XMLTest.stream("<message to='a@b'><body>hal"))
        #expect(!parser.hibernate(), "inside a stanza")
        _ = try parser.feed(Array("f</body></message><pres".utf8))
        #expect(!parser.hibernate(), "inside a tag")
        let events = try parser.feed(Array("ence/>".utf8))
        #expect(events.count == 1)
        #expect(parser.hibernate())
        #expect(parser.isHibernating)
        #expect(!parser.hibernate(), "already hibernating")
        let closing = try parser.feed(Array("</stream:stream>".utf8))
        #expect(closing == [.streamClose])
        #expect(!parser.isHibernating)
        #expect(!parser.hibernate(), "the stream is closed")
    }

    @Test func namespacesAndPrefixesOfTheHeaderSurvive() throws {
        let header = "<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client' xmlns:x='urn:example:x&amp;y' to='example.com' version='1.0'>"
        let parser = XMLStreamParser()
        _ = try parser.feed(Array(header.utf8))
        #expect(parser.hibernate())
        let events = try parser.feed(Array("<message to='a@example.com' x:flag='1'><body>hi</body></message></s:stream>".utf8))
        guard events.count == 2, case .stanza(let message) = events[0] else { Issue.record("got \(events)"); return }
        #expect(message.namespace == XMLNamespace.jabberClient)
        #expect(message.attributes.contains { $0.name == "flag" && $0.namespace == "urn:example:x&y" })
        #expect(events[1] == .streamClose)
        #expect(parser.streamHeader?.attribute("to") == "example.com")
    }

    @Test func limitsAndErrorsAfterWaking() throws {
        var limits = XMLStreamLimits()
        limits.maxStanzaBytes = 200
        let parser = XMLStreamParser(limits: limits)
        _ = try parser.feed(XMLTest.stream("<presence/>"))
        #expect(parser.hibernate())
        #expect(throws: XMLStreamError.self) {
            _ = try parser.feed(Array(("<message><body>" + String(repeating: "x", count: 300) + "</body></message>").utf8))
        }
        #expect(parser.failure?.condition == .policyViolation)

        let other = XMLStreamParser()
        _ = try other.feed(XMLTest.stream(""))
        #expect(other.hibernate())
        #expect(throws: XMLStreamError.self) { _ = try other.feed(Array("<message></iq>".utf8)) }
        #expect(other.failure?.condition == .invalidXML || other.failure?.condition == .notWellFormed)
    }

    @Test func resetAfterHibernationStartsANewDocument() throws {
        let parser = XMLStreamParser()
        _ = try parser.feed(XMLTest.stream(""))
        #expect(parser.hibernate())
        parser.reset()
        let events = try parser.feed(XMLTest.stream("<presence/>"))
        #expect(events.count == 2)
    }
}
