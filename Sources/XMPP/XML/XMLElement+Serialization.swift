import NIOCore

extension XMLElement {
    /// Appends the element as UTF-8 XML.
    ///
    /// - Parameter parentNamespace: the default namespace in scope where the element is written
    ///   (for a stanza: the stream's content namespace, e.g. `jabber:client`). A default namespace
    ///   declaration (`xmlns='…'`, or `xmlns=''` to leave one) is written only where the element's
    ///   namespace differs from it, which keeps stanzas as small as clients expect.
    ///
    /// The output is restricted XML (RFC 6120 §11.1) and round-trips through
    /// ``XMLStreamParser``: `&`, `<`, `>` are escaped in text; `&`, `<`, `>`, `'`, `"` and tab/LF/CR
    /// in attribute values (so attribute-value normalisation cannot alter them); CR in text (so
    /// line-end normalisation cannot). Characters XML 1.0 forbids (C0 controls other than
    /// tab/LF/CR, U+FFFE, U+FFFF) are replaced by U+FFFD because a peer would otherwise have to
    /// close the stream. Element and attribute names are written as given and must be valid XML
    /// names. Attributes in a namespace other than `xml:` get generated `ns0`, `ns1`… prefixes
    /// declared on the same element.
    public func write(into buffer: inout ByteBuffer, parentNamespace: String?) {
        buffer.writeInteger(UInt8(ascii: "<"))
        buffer.writeString(name)
        if namespace != parentNamespace {
            buffer.writeStaticString(" xmlns='")
            XMLEscaping.write(namespace ?? "", into: &buffer, inAttribute: true)
            buffer.writeInteger(UInt8(ascii: "'"))
        }
        var prefixes: [(uri: String, prefix: String)] = []
        for attribute in attributes {
            guard let uri = attribute.namespace, uri != XMLNamespace.xml,
                  !prefixes.contains(where: { $0.uri == uri }) else { continue }
            let prefix = "ns\(prefixes.count)"
            prefixes.append((uri, prefix))
            buffer.writeStaticString(" xmlns:")
            buffer.writeString(prefix)
            buffer.writeStaticString("='")
            XMLEscaping.write(uri, into: &buffer, inAttribute: true)
            buffer.writeInteger(UInt8(ascii: "'"))
        }
        for attribute in attributes {
            buffer.writeInteger(UInt8(ascii: " "))
            switch attribute.namespace {
            case nil:
                buffer.writeString(attribute.name)
            case XMLNamespace.xml:
                if !attribute.name.hasPrefix("xml:") { buffer.writeStaticString("xml:") }
                buffer.writeString(attribute.name)
            case let uri?:
                buffer.writeString(prefixes.first { $0.uri == uri }!.prefix)
                buffer.writeInteger(UInt8(ascii: ":"))
                buffer.writeString(attribute.name)
            }
            buffer.writeStaticString("='")
            XMLEscaping.write(attribute.value, into: &buffer, inAttribute: true)
            buffer.writeInteger(UInt8(ascii: "'"))
        }
        if children.isEmpty {
            buffer.writeStaticString("/>")
            return
        }
        buffer.writeInteger(UInt8(ascii: ">"))
        for child in children {
            switch child {
            case .element(let element): element.write(into: &buffer, parentNamespace: namespace)
            case .text(let text): XMLEscaping.write(text, into: &buffer, inAttribute: false)
            }
        }
        buffer.writeStaticString("</")
        buffer.writeString(name)
        buffer.writeInteger(UInt8(ascii: ">"))
    }

    /// The element as an XML string; see ``write(into:parentNamespace:)``. Meant for tests, logs
    /// and small payloads: the network path should write into the outbound `ByteBuffer`.
    public func serialized(parentNamespace: String? = nil) -> String {
        var buffer = ByteBufferAllocator().buffer(capacity: 256)
        write(into: &buffer, parentNamespace: parentNamespace)
        return String(buffer: buffer)
    }
}

/// Escaping of character data and attribute values for ``XMLElement`` serialisation.
enum XMLEscaping {
    static func write(_ string: String, into buffer: inout ByteBuffer, inAttribute: Bool) {
        var string = string
        string.withUTF8 { write($0, into: &buffer, inAttribute: inAttribute) }
    }

    /// Copies runs of bytes that need no escaping in one go and substitutes the rest.
    static func write(_ bytes: UnsafeBufferPointer<UInt8>, into buffer: inout ByteBuffer, inAttribute: Bool) {
        var runStart = 0
        var index = 0
        func flush(upTo end: Int) {
            if end > runStart { buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[runStart..<end]))) }
        }
        while index < bytes.count {
            let byte = bytes[index]
            var replacement: StaticString?
            var consumed = 1
            switch byte {
            case UInt8(ascii: "&"): replacement = "&amp;"
            case UInt8(ascii: "<"): replacement = "&lt;"
            case UInt8(ascii: ">"): replacement = "&gt;"
            case UInt8(ascii: "'") where inAttribute: replacement = "&apos;"
            case UInt8(ascii: "\"") where inAttribute: replacement = "&quot;"
            case 0x0D: replacement = "&#13;"
            case 0x0A where inAttribute: replacement = "&#10;"
            case 0x09 where inAttribute: replacement = "&#9;"
            case 0x09, 0x0A: break
            case 0x00..<0x20: replacement = "\u{FFFD}"
            case 0xEF where index + 2 < bytes.count && bytes[index + 1] == 0xBF && (bytes[index + 2] == 0xBE || bytes[index + 2] == 0xBF):
                // U+FFFE and U+FFFF are not XML characters.
                replacement = "\u{FFFD}"
                consumed = 3
            default: break
            }
            if let replacement {
                flush(upTo: index)
                buffer.writeStaticString(replacement)
                index += consumed
                runStart = index
            } else {
                index += 1
            }
        }
        flush(upTo: bytes.count)
    }
}
