/// The routing-relevant attributes of a first-level element, read once so routers and session
/// code do not walk attributes (or re-parse JIDs) repeatedly.
public struct StanzaHeader: Sendable, Hashable {
    /// Which of the three stanza kinds (RFC 6120 §8) this is.
    public enum Kind: Sendable, Hashable {
        case message
        case presence
        case iq
        /// Any other first-level element (stream features, SASL, stream management, …), by
        /// local name; see ``StanzaHeader/namespace``.
        case other(String)
    }

    public var kind: Kind
    /// The element's namespace (for stanzas, the stream's content namespace).
    public var namespace: String?
    public var to: JID?
    public var from: JID?
    /// The raw `type` attribute; its allowed values depend on the kind (RFC 6120 §8.2.3).
    public var type: String?
    public var id: String?
    /// The `xml:lang` attribute.
    public var language: String?

    /// Reads the header of `element`. `message`, `presence` and `iq` count as stanzas only in a
    /// content namespace (``XMLNamespace/stanzaContentNamespaces``); elsewhere they are `.other`.
    ///
    /// - Throws: ``StanzaHeaderError`` when `to` or `from` is present but not a valid JID;
    ///   the caller answers with ``StanzaHeaderError/stanzaError`` (RFC 6120 §8.3.3.8) or, for a
    ///   bad `from` on a server stream, a stream error.
    public init(_ element: XMLElement) throws(StanzaHeaderError) {
        let isStanzaNamespace = element.namespace.map(XMLNamespace.stanzaContentNamespaces.contains) ?? false
        switch element.name {
        case "message" where isStanzaNamespace: kind = .message
        case "presence" where isStanzaNamespace: kind = .presence
        case "iq" where isStanzaNamespace: kind = .iq
        default: kind = .other(element.name)
        }
        namespace = element.namespace
        to = try Self.jid(element, .to)
        from = try Self.jid(element, .from)
        type = element.attribute("type")
        id = element.attribute("id")
        language = element.attribute("xml:lang")
    }

    /// Whether this is a message, presence or iq stanza.
    public var isStanza: Bool {
        if case .other = kind { false } else { true }
    }

    private static func jid(_ element: XMLElement, _ attribute: StanzaHeaderError.Attribute) throws(StanzaHeaderError) -> JID? {
        guard let value = element.attribute(attribute.rawValue) else { return nil }
        do {
            return try JID(parsing: value)
        } catch {
            throw StanzaHeaderError(attribute: attribute, value: value, reason: error)
        }
    }
}

/// A stanza whose `to` or `from` attribute is not a valid JID.
public struct StanzaHeaderError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Attribute: String, Sendable, Hashable {
        case to
        case from
    }

    public var attribute: Attribute
    /// The offending attribute value, for logs (do not echo it to other users).
    public var value: String
    public var reason: JIDError

    public init(attribute: Attribute, value: String, reason: JIDError) {
        self.attribute = attribute
        self.value = value
        self.reason = reason
    }

    /// Always `jid-malformed` (RFC 6120 §8.3.3.8).
    public var condition: StanzaErrorCondition { .jidMalformed }

    /// The stanza error to answer with: `<jid-malformed/>`, type `modify`.
    public var stanzaError: StanzaError {
        StanzaError(.jidMalformed, text: "malformed '\(attribute.rawValue)' address: \(reason)")
    }

    public var description: String { "malformed '\(attribute.rawValue)' JID: \(reason)" }
}
