/// One attribute of an ``XMLElement``, with its namespace already resolved.
///
/// Prefixes are a serialisation detail and are not kept: two attributes are the same if their
/// namespace URI and local name are. The one exception is the reserved `xml:` prefix, whose
/// attributes keep the prefixed name (`"xml:lang"`) so that `attribute("xml:lang")` reads
/// naturally; their `namespace` is still ``XMLNamespace/xml``.
public struct XMLAttribute: Sendable, Hashable {
    /// The local name, or `"xml:…"` for attributes in the `xml:` namespace.
    public var name: String
    /// The resolved namespace URI, `nil` for the (usual) unprefixed attribute.
    public var namespace: String?
    /// The attribute value, with entity and character references already expanded.
    public var value: String

    public init(name: String, namespace: String? = nil, value: String) {
        self.name = name
        self.namespace = namespace
        self.value = value
    }
}

/// A child of an ``XMLElement``: either an element or character data.
public enum XMLNode: Sendable, Hashable {
    case element(XMLElement)
    case text(String)
}

/// An immutable-by-default XML element tree, the unit the stream parser hands out (one stanza)
/// and the unit the writers serialise.
///
/// It is a value type so stanzas can cross isolation domains (actors, event loops) without
/// copying concerns. Namespaces are stored resolved (`namespace` is the URI, never a prefix) so
/// that comparisons do not depend on how the peer chose to write its prefixes.
///
/// - Note: On Apple platforms Foundation also declares `XMLElement` and `XMLNode`; files that
///   import both Foundation and XMPPCore must spell them `XMPPCore.XMLElement`.
public struct XMLElement: Sendable, Hashable {
    /// The local name (no prefix).
    public var name: String
    /// The resolved namespace URI, `nil` when the element is in no namespace.
    public var namespace: String?
    /// Attributes in document order. Namespace declarations are not attributes here; the
    /// serialiser recreates the ones it needs.
    public var attributes: [XMLAttribute]
    /// Element and text children in document order. The parser never produces two adjacent
    /// text nodes, nor empty ones.
    public var children: [XMLNode]

    public init(name: String, namespace: String? = nil, attributes: [XMLAttribute] = [], children: [XMLNode] = []) {
        self.name = name
        self.namespace = namespace
        self.attributes = attributes
        self.children = children
    }

    /// Builds an element from ordered `name: value` pairs (unprefixed attributes, or `xml:…`
    /// ones), so literals such as `["to": "a@b", "id": "1"]` serialise in the order written.
    public init(name: String, namespace: String? = nil, attributes: KeyValuePairs<String, String>, children: [XMLNode] = []) {
        self.init(
            name: name, namespace: namespace,
            attributes: attributes.map { XMLAttribute(name: $0.key, namespace: $0.key.hasPrefix("xml:") ? XMLNamespace.xml : nil, value: $0.value) },
            children: children)
    }

    /// Builds an element whose only child is the given text (`<body>text</body>`).
    public init(name: String, namespace: String? = nil, attributes: KeyValuePairs<String, String> = [:], text: String) {
        self.init(name: name, namespace: namespace, attributes: attributes, children: text.isEmpty ? [] : [.text(text)])
    }
}

// MARK: - Reading

extension XMLElement {
    /// The value of an unprefixed attribute, or of an `xml:` one when `name` is written
    /// `"xml:lang"`. Attributes in other namespaces need ``attribute(_:namespace:)``.
    public func attribute(_ name: String) -> String? {
        for attribute in attributes where attribute.name == name {
            if attribute.namespace == nil || attribute.namespace == XMLNamespace.xml { return attribute.value }
        }
        return nil
    }

    /// The value of the attribute with this local name and namespace URI. For the `xml:`
    /// namespace either spelling works: `attribute("lang", namespace: XMLNamespace.xml)`.
    public func attribute(_ name: String, namespace: String?) -> String? {
        let name = namespace == XMLNamespace.xml && !name.hasPrefix("xml:") ? "xml:" + name : name
        return attributes.first { $0.name == name && $0.namespace == namespace }?.value
    }

    /// Sets (or, with `nil`, removes) an unprefixed or `xml:` attribute, keeping the position of
    /// an existing one so rewriting `to`/`from` does not reorder the stanza.
    public mutating func setAttribute(_ name: String, to value: String?) {
        let namespace: String? = name.hasPrefix("xml:") ? XMLNamespace.xml : nil
        if let index = attributes.firstIndex(where: { $0.name == name && $0.namespace == namespace }) {
            if let value { attributes[index].value = value } else { attributes.remove(at: index) }
        } else if let value {
            attributes.append(XMLAttribute(name: name, namespace: namespace, value: value))
        }
    }

    /// The first child element with this local name and namespace (`nil` matches only elements
    /// in no namespace), e.g. `iq.child("query", namespace: "jabber:iq:roster")`.
    public func child(_ name: String, namespace: String?) -> XMLElement? {
        for case .element(let element) in children where element.name == name && element.namespace == namespace {
            return element
        }
        return nil
    }

    /// All child elements with this local name and namespace.
    public func children(_ name: String, namespace: String?) -> [XMLElement] {
        elements.filter { $0.name == name && $0.namespace == namespace }
    }

    /// The child elements, without the text between them.
    public var elements: [XMLElement] {
        children.compactMap { if case .element(let element) = $0 { element } else { nil } }
    }

    /// The concatenated text children (not the text of descendants), e.g. the body of `<body/>`.
    public var text: String {
        var result = ""
        for case .text(let text) in children { result += text }
        return result
    }
}
