import NIOCore

/// A stream-level error (RFC 6120 §4.9): what the gateway sends, as `<stream:error/>`, right
/// before closing a stream, or what it received from a peer.
public struct StreamError: Error, Sendable, Hashable {
    public var condition: StreamErrorCondition
    /// Optional human-readable description (RFC 6120 §4.9.2), for diagnostics only.
    public var text: String?
    /// Language of ``text`` (`xml:lang`), if it is not the stream's default.
    public var textLanguage: String?
    /// Character data of the condition element itself; only `<see-other-host/>` carries some
    /// (the new host, RFC 6120 §4.9.3.19).
    public var conditionContent: String?
    /// An optional application-specific condition element (RFC 6120 §4.9.4).
    public var applicationCondition: XMLElement?

    public init(
        _ condition: StreamErrorCondition, text: String? = nil, textLanguage: String? = nil,
        conditionContent: String? = nil, applicationCondition: XMLElement? = nil
    ) {
        self.condition = condition
        self.text = text
        self.textLanguage = textLanguage
        self.conditionContent = conditionContent
        self.applicationCondition = applicationCondition
    }

    /// The error to send when the stream parser failed.
    public init(_ error: XMLStreamError) {
        self.init(error.condition, text: error.text.isEmpty ? nil : error.text)
    }

    /// `<see-other-host>host</see-other-host>` (RFC 6120 §4.9.3.19): redirect the peer.
    public static func seeOtherHost(_ host: String, text: String? = nil) -> StreamError {
        StreamError(.seeOtherHost, text: text, conditionContent: host)
    }

    /// Reads an error received from a peer. `element` must be `{streams}error`; it returns `nil`
    /// for anything else. An unknown condition element becomes ``StreamErrorCondition/undefinedCondition``
    /// as RFC 6120 §4.9.2 asks receivers to treat it.
    public init?(_ element: XMLElement) {
        guard element.name == "error", element.namespace == XMLNamespace.streams else { return nil }
        let children = ErrorChildren(of: element, namespace: XMLNamespace.xmppStreams, undefined: StreamErrorCondition.undefinedCondition)
        self.init(children.condition, text: children.text, textLanguage: children.language, conditionContent: children.content,
                  applicationCondition: children.application)
    }

    /// The children of `<stream:error/>`: the condition, then `<text/>`, then the application
    /// condition.
    public var childElements: [XMLElement] {
        var result = [XMLElement(name: condition.rawValue, namespace: XMLNamespace.xmppStreams, text: conditionContent ?? "")]
        if let text {
            var element = XMLElement(name: "text", namespace: XMLNamespace.xmppStreams, text: text)
            if let textLanguage { element.setAttribute("xml:lang", to: textLanguage) }
            result.append(element)
        }
        if let applicationCondition { result.append(applicationCondition) }
        return result
    }

    /// The error as an element in the stream namespace (what ``XMLStreamParser`` yields when a
    /// peer sends one).
    public var element: XMLElement {
        XMLElement(name: "error", namespace: XMLNamespace.streams, children: childElements.map { .element($0) })
    }

    /// Appends `<stream:error>…</stream:error>`. It uses the `stream:` prefix, so it must be
    /// written inside a stream header that binds `xmlns:stream='http://etherx.jabber.org/streams'`
    /// (the gateway's own headers do).
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeStaticString("<stream:error>")
        for child in childElements { child.write(into: &buffer, parentNamespace: XMLNamespace.streams) }
        buffer.writeStaticString("</stream:error>")
    }

    /// `<stream:error>…</stream:error>` as a string; see ``write(into:)``.
    public func serialized() -> String {
        var buffer = ByteBufferAllocator().buffer(capacity: 192)
        write(into: &buffer)
        return String(buffer: buffer)
    }
}
