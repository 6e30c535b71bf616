import Testing
@testable import XMPPCore

@Suite("XMLStreamParser: fuzzing")
struct XMLStreamFuzzTests {
    static let fragments: [String] = [
        "<message>", "</message>", "<body>", "</body>", "<presence/>", "<iq type='get' id='1'>", "</iq>",
        "<a:b xmlns:a='urn:a'>", "</a:b>", "<x xmlns=''/>", "&amp;", "&lt;", "&#x41;", "&#0;", "&foo;", "&",
        "<![CDATA[", "]]>", "<!--", "-->", "<?pi x?>", "<!DOCTYPE x>", "<!ENTITY e 'v'>", "'", "\"", "=", "/>",
        "</stream:stream>", "<stream:features/>", " ", "\n", "text", "é", "🌹", "\u{FFFD}", "xml:lang='en'",
        "<?xml version='1.0'?>", "]]", "<", ">", "/", "xmlns:stream='http://etherx.jabber.org/streams'",
    ]

    /// One input: a mutated realistic stream, random bytes, or a soup of XML fragments.
    static func input(_ random: inout XMLFuzzRandom) -> [UInt8] {
        switch Int.random(in: 0..<3, using: &random) {
        case 0:
            var bytes = XMLStreamParserTests.bytes
            for _ in 0..<Int.random(in: 1...8, using: &random) {
                let position = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<5, using: &random) {
                case 0: bytes[position] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes[position] = Array("<>&;'\"/!?[]=:".utf8).randomElement(using: &random)!
                case 2: bytes.remove(at: position)
                case 3: bytes.insert(contentsOf: fragments.randomElement(using: &random)!.utf8, at: position)
                default:
                    let end = min(bytes.count, position + Int.random(in: 1...40, using: &random))
                    bytes.insert(contentsOf: bytes[position..<end], at: Int.random(in: 0..<bytes.count, using: &random))
                }
            }
            return bytes
        case 1:
            let prefix = Bool.random(using: &random) ? XMLTest.stream("") : []
            return prefix + (0..<Int.random(in: 0...300, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
        default:
            var text = Bool.random(using: &random) ? String(decoding: XMLTest.stream(""), as: UTF8.self) : ""
            for _ in 0..<Int.random(in: 1...60, using: &random) { text += fragments.randomElement(using: &random)! }
            return Array(text.utf8)
        }
    }

    @Test func fiveThousandInputsNeverCrashAndDoNotDependOnSplitting() {
        var random = XMLFuzzRandom(seed: 0x5EED_0F_C0FFEE)
        var failures = 0
        var splitMismatches = 0
        for _ in 0..<5_000 {
            let bytes = Self.input(&random)
            let whole = XMLTest.parse(bytes)
            let chunks = (0..<4).map { _ in Int.random(in: 1...64, using: &random) }
            let split = XMLTest.parse(bytes, chunkSizes: chunks)
            if whole.events != split.events || whole.condition != split.condition {
                splitMismatches += 1
                Issue.record("split mismatch: whole \(whole) split \(split) chunks \(chunks) input \(String(decoding: bytes, as: UTF8.self).debugDescription)")
            }
            if whole.error != nil { failures += 1 }
        }
        #expect(splitMismatches == 0)
        #expect(failures > 1_000)  // the corpus really does exercise the error paths
    }

    @Test func failedParsersRethrowTheirFirstError() {
        var random = XMLFuzzRandom(seed: 42)
        for _ in 0..<500 {
            let parser = XMLStreamParser()
            let outcome = XMLTest.parse(Self.input(&random), parser: parser)
            guard let error = outcome.error else { continue }
            #expect(throws: error) { try parser.feed(Array("<presence/>".utf8)) }
            #expect(parser.failure == error)
        }
    }
}
