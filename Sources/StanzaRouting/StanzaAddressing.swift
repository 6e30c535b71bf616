import MMGSShared
import NIOCore

/// Rewriting a serialized stanza's root element without parsing it: routers copy stanzas to
/// other sessions and must stamp the `to` that RFC 6120 §8.1.1 / RFC 6121 §4.2.2 require (each
/// resource's full JID), and wrap messages as Message Carbons (XEP-0280). The bytes are what a
/// front-end serialized: well-formed, one root element, its namespace inherited from the stream.
public enum StanzaAddressing {
    /// `stanza` with its root element's `to` set (replaced if present, added if not). Bytes that
    /// are not a start tag come back unchanged.
    public static func addressed(_ stanza: ByteBuffer, to: String) -> ByteBuffer {
        setting(stanza, attribute: "to", to: to, replace: true)
    }

    /// XEP-0280 §6–7: `<message from=bare to=full type='chat'><received|sent xmlns=carbons>
    /// <forwarded xmlns=forward>` the original, its root in `jabber:client` (inside `forwarded`
    /// it would otherwise inherit the forward namespace) `</forwarded>…</message>`.
    public static func carbon(_ stanza: ByteBuffer, direction: CarbonDirection, account: String, to full: String) -> ByteBuffer {
        let inner = setting(stanza, attribute: "xmlns", to: "jabber:client", replace: false)
        var out = ByteBufferAllocator().buffer(capacity: inner.readableBytes + 220)
        out.writeString("<message from='\(account.xmlEscaped)' to='\(full.xmlEscaped)' type='chat'><\(direction.rawValue) xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>")
        var copy = inner
        out.writeBuffer(&copy)
        out.writeString("</forwarded></\(direction.rawValue)></message>")
        return out
    }

    public enum CarbonDirection: String, Sendable { case received, sent }

    /// Sets one attribute of the root start tag; with `replace: false` an attribute already
    /// there is kept.
    static func setting(_ stanza: ByteBuffer, attribute: String, to value: String, replace: Bool) -> ByteBuffer {
        let bytes = stanza.readableBytesView
        guard bytes.first == UInt8(ascii: "<") else { return stanza }
        var index = bytes.startIndex + 1
        let end = bytes.endIndex
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        while index < end, !isSpace(bytes[index]), bytes[index] != UInt8(ascii: ">"), bytes[index] != UInt8(ascii: "/") { index += 1 }
        let afterName = index
        var existing: Range<Int>?  // the whole ` name='…'` of the attribute already there
        while index < end {
            let attributeStart = index
            while index < end, isSpace(bytes[index]) { index += 1 }
            guard index < end, bytes[index] != UInt8(ascii: ">"), bytes[index] != UInt8(ascii: "/") else { break }
            let nameStart = index
            while index < end, bytes[index] != UInt8(ascii: "="), !isSpace(bytes[index]) { index += 1 }
            let name = bytes[nameStart ..< index]
            while index < end, bytes[index] != UInt8(ascii: "'"), bytes[index] != UInt8(ascii: "\"") { index += 1 }
            guard index < end else { return stanza }
            let quote = bytes[index]
            index += 1
            while index < end, bytes[index] != quote { index += 1 }
            guard index < end else { return stanza }
            index += 1
            if name.elementsEqual(attribute.utf8) { existing = attributeStart ..< index }
        }
        if existing != nil && !replace { return stanza }
        let text = " \(attribute)='\(value.xmlEscaped)'"
        var out = ByteBufferAllocator().buffer(capacity: stanza.readableBytes + text.utf8.count)
        let cut = existing ?? afterName ..< afterName
        out.writeBytes(bytes[bytes.startIndex ..< cut.lowerBound])
        out.writeString(text)
        out.writeBytes(bytes[cut.upperBound ..< end])
        return out
    }
}
