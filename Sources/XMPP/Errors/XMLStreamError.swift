/// Why ``XMLStreamParser`` gave up on a stream: the stream error condition to send (RFC 6120
/// §4.9.3) and a diagnostic text. Once thrown, the parser is failed for good and rethrows it.
public struct XMLStreamError: Error, Sendable, Hashable, CustomStringConvertible {
    public var condition: StreamErrorCondition
    /// Human-readable detail (expat's message with the position, or the limit that was hit).
    /// Safe to send as `<text/>`: it never echoes peer data.
    public var text: String

    public init(_ condition: StreamErrorCondition, _ text: String) {
        self.condition = condition
        self.text = text
    }

    public var description: String { "\(condition.rawValue): \(text)" }
}
