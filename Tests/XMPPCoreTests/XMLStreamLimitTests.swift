import Testing
@testable import XMPPCore

@Suite("XMLStreamParser: restricted XML, namespaces and limits")
struct XMLStreamLimitTests {
    static let streamsNS = "xmlns:stream='http://etherx.jabber.org/streams'"

    /// `<message><body>aaa…</body></message>` of exactly `size` bytes.
    static func message(ofSize size: Int) -> String {
        let open = "<message><body>", close = "</body></message>"
        return open + String(repeating: "a", count: size - open.utf8.count - close.utf8.count) + close
    }

    static func nested(depth: Int) -> String {
        // The stanza is depth 1, so `depth` levels of nesting need depth - 1 children inside it.
        String(repeating: "<a>", count: depth) + String(repeating: "</a>", count: depth)
    }

    static func attributes(_ count: Int) -> String {
        "<presence " + (0..<count).map { "a\($0)='\($0)'" }.joined(separator: " ") + "/>"
    }

    static let billionLaughs = """
        <?xml version="1.0"?>
        <!DOCTYPE lolz [
         <!ENTITY lol "lol">
         <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
         <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
         <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
         <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
         <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
         <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
         <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
         <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
         <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
        ]>
        <stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client'><message>&lol9;</message>
        """

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let input: [UInt8]
        let expected: StreamErrorCondition
        var testDescription: String { name }

        init(_ name: String, _ input: String, _ expected: StreamErrorCondition) {
            self.init(name, Array(input.utf8), expected)
        }
        init(_ name: String, _ input: [UInt8], _ expected: StreamErrorCondition) {
            self.name = name
            self.input = input
            self.expected = expected
        }
        /// A stream header, then `body`.
        static func inStream(_ name: String, _ body: String, _ expected: StreamErrorCondition) -> Case {
            Case(name, XMLTest.stream(body), expected)
        }
    }

    static let rejected: [Case] = [
        // Restricted XML (RFC 6120 §11.1).
        Case("DOCTYPE", "<?xml version='1.0'?><!DOCTYPE stream:stream><stream:stream \(streamsNS)>", .restrictedXML),
        Case("internal entity", "<!DOCTYPE s [<!ENTITY x 'y'>]><stream:stream \(streamsNS)>&x;", .restrictedXML),
        Case("external entity", "<!DOCTYPE s [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><stream:stream \(streamsNS)>&x;", .restrictedXML),
        Case("external DTD", "<!DOCTYPE s SYSTEM 'http://example.com/evil.dtd'><stream:stream \(streamsNS)>", .restrictedXML),
        Case("billion laughs", billionLaughs, .restrictedXML),
        .inStream("undefined entity in text", "<message><body>&foo;</body></message>", .restrictedXML),
        .inStream("undefined entity in attribute", "<message to='&foo;'/>", .restrictedXML),
        .inStream("comment in stanza", "<message><!-- hi --></message>", .restrictedXML),
        .inStream("comment at stream level", "<!-- hi -->", .restrictedXML),
        Case("comment before header", "<!-- hi --><stream:stream \(streamsNS)>", .restrictedXML),
        .inStream("processing instruction", "<message><?php echo 1; ?></message>", .restrictedXML),
        Case("processing instruction in prolog", "<?xml version='1.0'?><?xml-stylesheet href='a'?><stream:stream \(streamsNS)>", .restrictedXML),
        .inStream("misplaced XML declaration", "<?xml version='1.0'?>", .restrictedXML),
        // Encoding (RFC 6120 §11.6).
        Case("ISO-8859-1 declaration", "<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream \(streamsNS)>", .unsupportedEncoding),
        Case("UTF-16 declaration", "<?xml version='1.0' encoding='UTF-16'?><stream:stream \(streamsNS)>", .unsupportedEncoding),
        Case("UTF-16LE bytes", [0xFF, 0xFE, 0x3C, 0x00, 0x3F, 0x00], .unsupportedEncoding),
        Case("UTF-16BE without BOM", [0x00, 0x3C, 0x00, 0x3F], .unsupportedEncoding),
        Case("UTF-16LE without BOM", [0x3C, 0x00, 0x3F, 0x00], .unsupportedEncoding),
        .inStream("control character", "<message><body>\u{1}</body></message>", .notWellFormed),
        Case("invalid UTF-8 byte", XMLTest.stream("<message><body>") + [0xC3, 0x28] + Array("</body></message>".utf8), .notWellFormed),
        Case("overlong UTF-8", XMLTest.stream("<message><body>") + [0xC0, 0xBC] + Array("</body></message>".utf8), .notWellFormed),
        .inStream("reference to a non-character", "<message><body>&#0;</body></message>", .notWellFormed),
        // Namespaces and the stream header (RFC 6120 §4.8, §4.9.3).
        .inStream("unbound element prefix", "<foo:message/>", .badNamespacePrefix),
        .inStream("unbound attribute prefix", "<message foo:to='x'/>", .badNamespacePrefix),
        Case("unbound stream prefix", "<stream:stream xmlns='jabber:client'>", .badNamespacePrefix),
        .inStream("undeclaring a prefix", "<message xmlns:x=''/>", .badNamespacePrefix),
        Case("wrong stream namespace", "<stream:stream xmlns:stream='http://etherx.jabber.org/streamz' xmlns='jabber:client'>", .invalidNamespace),
        Case("stream element in content namespace", "<stream xmlns='jabber:client'>", .invalidNamespace),
        Case("first element a stanza", "<message xmlns='jabber:client'/>", .invalidNamespace),
        Case("first element features", "<stream:features \(streamsNS)/>", .notWellFormed),
        Case("unsupported content namespace", "<stream:stream \(streamsNS) xmlns='jabber:iq:roster'>", .invalidNamespace),
        Case("stream namespace as content namespace", "<stream \(streamsNS) xmlns='http://etherx.jabber.org/streams'>", .invalidNamespace),
        // Well-formedness.
        .inStream("mismatched tags", "<message><body></message></body>", .notWellFormed),
        .inStream("mismatched stream close", "<message></stream:stream>", .notWellFormed),
        .inStream("duplicate attribute", "<message to='a' to='b'/>", .notWellFormed),
        .inStream("duplicate expanded attribute", "<message xmlns:a='urn:x' xmlns:b='urn:x' a:t='1' b:t='2'/>", .notWellFormed),
        .inStream("unquoted attribute", "<message to=a/>", .notWellFormed),
        .inStream("lone ampersand", "<message><body>a & b</body></message>", .notWellFormed),
        .inStream("lone less-than in attribute", "<message to='<'/>", .notWellFormed),
        .inStream("data after stream close", "</stream:stream><message/>", .notWellFormed),
        Case("garbage", "hello world", .notWellFormed),
        Case("HTTP request", "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", .notWellFormed),
        Case("TLS ClientHello", [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03], .notWellFormed),
        .inStream("text at stream level", "hello<message/>", .badFormat),
        // Limits.
        .inStream("stanza of 256 KiB + 1", message(ofSize: 256 * 1024 + 1), .policyViolation),
        .inStream("depth 33", nested(depth: 33), .policyViolation),
        .inStream("65 attributes", attributes(65), .policyViolation),
        .inStream("65 namespace declarations", "<m " + (0..<65).map { "xmlns:p\($0)='urn:\($0)'" }.joined(separator: " ") + "/>", .policyViolation),
        Case("stream header over 8 KiB", "<stream:stream \(streamsNS) xmlns='jabber:client' to='\(String(repeating: "x", count: 8 * 1024))'>", .policyViolation),
        Case("endless prolog whitespace", String(repeating: " ", count: 9000), .policyViolation),
        .inStream("start tag over 16 KiB", "<message to='\(String(repeating: "x", count: 16 * 1024))'/>", .policyViolation),
        .inStream("unterminated start tag", "<message to='\(String(repeating: "x", count: 20 * 1024))", .policyViolation),
        .inStream("name over 1 KiB", "<\(String(repeating: "m", count: 1025))/>", .policyViolation),
    ]

    @Test(arguments: rejected)
    func rejects(_ testCase: Case) {
        let outcome = XMLTest.parseEverySplit(testCase.input)
        #expect(outcome.condition == testCase.expected, "\(outcome)")
    }

    struct Accepted: CustomTestStringConvertible, Sendable {
        let name: String
        let input: [UInt8]
        var testDescription: String { name }
        init(_ name: String, body: String) { self.init(name, input: XMLTest.stream(body)) }
        init(_ name: String, input: [UInt8]) {
            self.name = name
            self.input = input
        }
    }

    static let accepted: [Accepted] = [
        Accepted("stanza of exactly 256 KiB", body: message(ofSize: 256 * 1024)),
        Accepted("depth 32", body: nested(depth: 32)),
        Accepted("64 attributes", body: attributes(64)),
        Accepted("CDATA", body: "<message><body><![CDATA[<&>]]></body></message>"),
        Accepted("character references", body: "<message><body>&#x10FFFF;&#65;&#x20AC;</body></message>"),
        Accepted("UTF-8 BOM", input: [0xEF, 0xBB, 0xBF] + XMLTest.stream("<presence/>")),
        Accepted("many whitespace keepalives", body: String(repeating: " \n", count: 40_000) + "<presence/>"),
        Accepted("start tag of exactly 16 KiB", body: "<m a='" + String(repeating: "x", count: 16 * 1024 - 9) + "'/>"),
    ]

    @Test(arguments: accepted)
    func accepts(_ testCase: Accepted) {
        let outcome = XMLTest.parseEverySplit(testCase.input)
        #expect(outcome.error == nil, "\(outcome)")
        #expect(XMLTest.stanzas(outcome.events).count == 1)
    }

    @Test func headerAtTheLimitIsAccepted() {
        let prefix = "<stream:stream \(Self.streamsNS) xmlns='jabber:client' to='"
        let padding = 8 * 1024 - prefix.utf8.count - 2
        let exact = Array((prefix + String(repeating: "x", count: padding) + "'>").utf8)
        #expect(exact.count == 8 * 1024)
        #expect(XMLTest.parseEverySplit(exact).events.count == 1)
        let over = Array((prefix + String(repeating: "x", count: padding + 1) + "'>").utf8)
        #expect(XMLTest.parseEverySplit(over).condition == .policyViolation)
    }

    @Test func customLimitsApply() {
        let limits = XMLStreamLimits(maxStanzaBytes: 100, maxDepth: 3, maxAttributes: 4)
        #expect(XMLTest.parseEverySplit(XMLTest.stream(Self.message(ofSize: 100)), limits: limits).error == nil)
        #expect(XMLTest.parseEverySplit(XMLTest.stream(Self.message(ofSize: 101)), limits: limits).condition == .policyViolation)
        #expect(XMLTest.parseEverySplit(XMLTest.stream(Self.nested(depth: 3)), limits: limits).error == nil)
        #expect(XMLTest.parseEverySplit(XMLTest.stream(Self.nested(depth: 4)), limits: limits).condition == .policyViolation)
        #expect(XMLTest.parseEverySplit(XMLTest.stream(Self.attributes(5)), limits: limits).condition == .policyViolation)
    }

    @Test func contentNamespacePolicyIsConfigurable() throws {
        let header = "<stream:stream \(Self.streamsNS) xmlns='jabber:server'>"
        let clientOnly = XMLStreamParser(acceptedContentNamespaces: [XMLNamespace.jabberClient])
        #expect(throws: XMLStreamError.self) { try clientOnly.feed(Array(header.utf8)) }
        #expect(clientOnly.failure?.condition == .invalidNamespace)
        let anything = XMLStreamParser(acceptedContentNamespaces: nil)
        #expect(try anything.feed(Array("<stream:stream \(Self.streamsNS) xmlns='urn:custom'>".utf8)).count == 1)
        #expect(anything.streamContentNamespace == "urn:custom")
    }

    @Test func errorTextDoesNotEchoPeerData() {
        let outcome = XMLTest.parse(Array("<?xml version='1.0' encoding='SECRET-ENC'?>".utf8))
        #expect(outcome.condition == .unsupportedEncoding)
        #expect(!(outcome.error?.text.contains("SECRET") ?? true))
    }
}
