/// What ``XMLStreamParser`` reports, in stream order.
public enum XMLStreamEvent: Sendable, Hashable {
    /// The stream header `<stream:stream …>` was read and accepted. The element carries the
    /// header's attributes (`to`, `from`, `version`, `id`, `xml:lang`, …) and no children; the
    /// namespace declarations are on the parser (``XMLStreamParser/streamContentNamespace``,
    /// ``XMLStreamParser/streamNamespaceDeclarations``).
    case streamOpen(XMLElement)
    /// A complete first-level child of the stream (a stanza, or a `<stream:features/>`,
    /// `<auth/>`, `<stream:error/>`… element) with its whole subtree.
    case stanza(XMLElement)
    /// `</stream:stream>` was read: the peer closed its stream.
    case streamClose
}

/// Bounds that keep one connection's parsing cost proportional to what it legitimately needs.
/// Exceeding any of them fails the stream with `<policy-violation/>`.
public struct XMLStreamLimits: Sendable, Hashable {
    /// Bytes of input from the `<` of a first-level element to the `>` of its end tag
    /// (RFC 6120 §13.12 asks servers to bound stanza size; 256 KiB is generous for IM).
    public var maxStanzaBytes: Int
    /// Deepest element nesting, counting the stream element as depth 0 and a stanza as depth 1.
    public var maxDepth: Int
    /// Most attributes on one element; namespace declarations are counted separately against the
    /// same bound. Also bounds expat's per-element attribute hashing.
    public var maxAttributes: Int
    /// Bytes from the start of the document (XML declaration included) to the end of the stream
    /// header's start tag.
    public var maxStreamHeaderBytes: Int
    /// Largest single markup token (a start tag with its attributes, an end tag). Expat re-scans
    /// an incomplete token from its start whenever more bytes arrive, so a peer trickling a huge
    /// tag one byte at a time would cost quadratic CPU; bounding the token bounds that.
    public var maxTagBytes: Int
    /// Longest expanded element or attribute name (namespace URI plus local name), in bytes.
    public var maxNameBytes: Int

    public init(
        maxStanzaBytes: Int = 256 * 1024, maxDepth: Int = 32, maxAttributes: Int = 64,
        maxStreamHeaderBytes: Int = 8 * 1024, maxTagBytes: Int = 16 * 1024, maxNameBytes: Int = 1024
    ) {
        self.maxStanzaBytes = maxStanzaBytes
        self.maxDepth = maxDepth
        self.maxAttributes = maxAttributes
        self.maxStreamHeaderBytes = maxStreamHeaderBytes
        self.maxTagBytes = maxTagBytes
        self.maxNameBytes = maxNameBytes
    }

    /// The defaults above.
    public static let `default` = XMLStreamLimits()
}
