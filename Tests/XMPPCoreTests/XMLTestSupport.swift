import NIOCore
import Testing
@testable import XMPPCore

/// Helpers shared by the XML, error and stanza tests.
enum XMLTest {
    static let header = """
        <?xml version='1.0' encoding='UTF-8'?><stream:stream from='juliet@im.example.com' to='im.example.com' \
        version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>
        """

    /// A stream header, then `body`.
    static func stream(_ body: String) -> [UInt8] { Array((header + body).utf8) }

    /// The outcome of parsing `input`, fed in the given chunk sizes (cycled; the rest in one
    /// piece when `chunkSizes` is empty): the events returned before any error, and the error.
    struct Outcome: Equatable, CustomStringConvertible {
        var events: [XMLStreamEvent] = []
        var error: XMLStreamError?
        var condition: StreamErrorCondition? { error?.condition }
        var description: String { "\(events.count) events, error: \(error.map(String.init(describing:)) ?? "none")" }
    }

    static func parse(
        _ input: [UInt8], chunkSizes: [Int] = [], limits: XMLStreamLimits = .default, parser: XMLStreamParser? = nil
    ) -> Outcome {
        let parser = parser ?? XMLStreamParser(limits: limits)
        var outcome = Outcome()
        input.withUnsafeBytes { raw in
            var offset = 0
            var turn = 0
            while offset < raw.count {
                let size = chunkSizes.isEmpty ? raw.count : max(1, chunkSizes[turn % chunkSizes.count])
                turn += 1
                let end = min(raw.count, offset + size)
                do throws(XMLStreamError) {
                    try parser.feed(UnsafeRawBufferPointer(rebasing: raw[offset..<end]), into: &outcome.events)
                } catch {
                    outcome.error = error
                    return
                }
                offset = end
            }
        }
        return outcome
    }

    /// Parses `input` whole, byte by byte and in a few odd chunkings, expects the same outcome
    /// from all, and returns it.
    static func parseEverySplit(_ input: [UInt8], limits: XMLStreamLimits = .default, sourceLocation: SourceLocation = #_sourceLocation) -> Outcome {
        let whole = parse(input, limits: limits)
        for chunking in [[1], [2], [3, 7], [4096], [1, 16 * 1024 + 5]] {
            let split = parse(input, chunkSizes: chunking, limits: limits)
            #expect(split.events == whole.events, "chunks \(chunking)", sourceLocation: sourceLocation)
            #expect(split.condition == whole.condition, "chunks \(chunking)", sourceLocation: sourceLocation)
        }
        return whole
    }

    /// The stanzas in `events`.
    static func stanzas(_ events: [XMLStreamEvent]) -> [XMLElement] {
        events.compactMap { if case .stanza(let element) = $0 { element } else { nil } }
    }

    /// Parses one serialized first-level element inside a dummy client stream.
    static func parseElement(_ xml: String, sourceLocation: SourceLocation = #_sourceLocation) -> XMLElement? {
        let outcome = parse(stream(xml))
        #expect(outcome.error == nil, sourceLocation: sourceLocation)
        let stanzas = stanzas(outcome.events)
        #expect(stanzas.count == 1, sourceLocation: sourceLocation)
        return stanzas.first
    }
}

/// SplitMix64: a tiny seeded generator so the fuzz test is reproducible.
struct XMLFuzzRandom: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
