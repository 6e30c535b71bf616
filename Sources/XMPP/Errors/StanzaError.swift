/// A stanza-level error (RFC 6120 §8.3): the `<error/>` child of a stanza of type `error`.
/// Unlike a ``StreamError`` it does not end the stream.
public struct StanzaError: Error, Sendable, Hashable {
    public var condition: StanzaErrorCondition
    public var type: StanzaErrorType
    /// Optional human-readable description, for diagnostics only.
    public var text: String?
    /// Language of ``text`` (`xml:lang`).
    public var textLanguage: String?
    /// Character data of the condition element; only `<gone/>` and `<redirect/>` carry some (an
    /// XMPP URI, RFC 6120 §8.3.3.5 and §8.3.3.14).
    public var conditionContent: String?
    /// An optional application-specific condition element (RFC 6120 §8.3.2).
    public var applicationCondition: XMLElement?

    /// - Parameter type: defaults to the condition's ``StanzaErrorCondition/defaultType``.
    public init(
        _ condition: StanzaErrorCondition, type: StanzaErrorType? = nil, text: String? = nil, textLanguage: String? = nil,
        conditionContent: String? = nil, applicationCondition: XMLElement? = nil
    ) {
        self.condition = condition
        self.type = type ?? condition.defaultType
        self.text = text
        self.textLanguage = textLanguage
        self.conditionContent = conditionContent
        self.applicationCondition = applicationCondition
    }

    /// Reads the `<error/>` child of a received error stanza (`element` is that child). Unknown
    /// or missing conditions become `undefined-condition`, an unknown type the condition's default.
    public init?(_ element: XMLElement) {
        guard element.name == "error" else { return nil }
        let children = ErrorChildren(of: element, namespace: XMLNamespace.xmppStanzas, undefined: StanzaErrorCondition.undefinedCondition)
        self.init(
            children.condition, type: element.attribute("type").flatMap(StanzaErrorType.init(rawValue:)), text: children.text,
            textLanguage: children.language, conditionContent: children.content, applicationCondition: children.application)
    }

    /// The `<error type='…' [by='…']>` element, in `namespace` (the stanza's content namespace:
    /// the `<error/>` child is qualified like the stanza that carries it).
    public func element(namespace: String?, by: String? = nil) -> XMLElement {
        var error = XMLElement(name: "error", namespace: namespace, attributes: ["type": type.rawValue])
        if let by { error.setAttribute("by", to: by) }
        error.children.append(.element(XMLElement(name: condition.rawValue, namespace: XMLNamespace.xmppStanzas, text: conditionContent ?? "")))
        if let text {
            var element = XMLElement(name: "text", namespace: XMLNamespace.xmppStanzas, text: text)
            if let textLanguage { element.setAttribute("xml:lang", to: textLanguage) }
            error.children.append(.element(element))
        }
        if let applicationCondition { error.children.append(.element(applicationCondition)) }
        return error
    }

    /// The error stanza answering `stanza` (RFC 6120 §8.3.1): same element name and namespace,
    /// `to`/`from` swapped (an absent one stays absent), the same `id` and `xml:lang`,
    /// `type='error'`, then the `<error/>` child.
    ///
    /// - Parameters:
    ///   - by: the JID of the entity that generated the error (the optional `by` attribute).
    ///   - includingPayload: RFC 6120 lets the generator echo the original child elements so the
    ///     sender can see what failed. Off by default: it costs bandwidth and can reflect large
    ///     payloads; turn it on for iq errors where clients expect the query back.
    public func reply(to stanza: XMLElement, by: String?, includingPayload: Bool = false) -> XMLElement {
        var reply = XMLElement(name: stanza.name, namespace: stanza.namespace)
        if let from = stanza.attribute("from") { reply.setAttribute("to", to: from) }
        if let to = stanza.attribute("to") { reply.setAttribute("from", to: to) }
        if let id = stanza.attribute("id") { reply.setAttribute("id", to: id) }
        if let lang = stanza.attribute("xml:lang") { reply.setAttribute("xml:lang", to: lang) }
        reply.setAttribute("type", to: "error")
        if includingPayload {
            for child in stanza.elements where !(child.name == "error" && child.namespace == stanza.namespace) {
                reply.children.append(.element(child))
            }
        }
        reply.children.append(.element(element(namespace: stanza.namespace, by: by)))
        return reply
    }
}
