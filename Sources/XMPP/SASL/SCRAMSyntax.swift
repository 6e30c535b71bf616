/// Byte-level parsing of SCRAM messages (RFC 5802 §7), shared by the server and the client.
///
/// Everything works on UTF-8 bytes, not `String`/`Character`: splitting a `String` on "," compares
/// grapheme clusters, so a comma followed by a combining mark would not split, and a hostile client
/// could hide an attribute boundary. Bytes also make the AuthMessage exactly what was received.
enum SCRAMSyntax {
    /// Upper bound for any SCRAM message. Real ones are well under 300 bytes; the bound keeps a
    /// hostile peer from making us hash megabytes (the XML layer bounds element text too).
    static let maximumMessageLength = 4096

    static let comma = UInt8(ascii: ",")
    static let equals = UInt8(ascii: "=")

    /// Splits a message on ',' keeping empty fields (an empty field is a syntax error the callers
    /// must see, and the gs2 header legitimately contains one).
    static func fields(_ message: [UInt8]) -> [ArraySlice<UInt8>] {
        message.split(separator: comma, omittingEmptySubsequences: false)
    }

    /// Checks the size and UTF-8 validity of a whole message.
    static func checkMessage(_ message: [UInt8], name: String) throws(SASLError) {
        guard !message.isEmpty else { throw .malformed("empty \(name)") }
        guard message.count <= maximumMessageLength else { throw .malformed("\(name) is too long") }
        guard String(validating: message, as: UTF8.self) != nil else { throw .malformed("\(name) is not valid UTF-8") }
    }

    /// If `field` is `attr=value` with a single ASCII letter name, returns name and value.
    static func attribute(_ field: ArraySlice<UInt8>) -> (name: UInt8, value: ArraySlice<UInt8>)? {
        guard field.count >= 2 else { return nil }
        let name = field[field.startIndex]
        let isLetter = (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(name)
            || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(name)
        guard isLetter, field[field.startIndex + 1] == equals else { return nil }
        return (name, field[(field.startIndex + 2)...])
    }

    /// The value of `field`, which must be the attribute `name` (e.g. "r"); otherwise malformed-request
    /// naming what was expected, so a client developer can tell which part of the message is wrong.
    static func value(of name: Character, in field: ArraySlice<UInt8>?, message: String) throws(SASLError) -> ArraySlice<UInt8> {
        guard let field, let (found, value) = attribute(field), found == name.asciiValue else {
            throw .malformed("\(message): expected attribute '\(name)='")
        }
        return value
    }

    /// Optional extensions after the mandatory attributes: each must look like `x=value`; their
    /// content is ignored, as RFC 5802 §5.1 requires for extensions a party does not understand.
    static func checkExtensions(_ fields: ArraySlice<ArraySlice<UInt8>>, message: String) throws(SASLError) {
        for field in fields where attribute(field) == nil {
            throw .malformed("\(message): malformed extension attribute")
        }
    }

    /// Decodes a `saslname` (RFC 5802 §5.1): "=2C" is ',' and "=3D" is '='; any other '=' is an error,
    /// as is an empty name, invalid UTF-8 or a control character.
    static func unescapeSaslname(_ value: ArraySlice<UInt8>, what: String = "username") throws(SASLError) -> String {
        guard !value.isEmpty else { throw .malformed("empty \(what)") }
        var out: [UInt8] = []
        out.reserveCapacity(value.count)
        var index = value.startIndex
        while index < value.endIndex {
            let byte = value[index]
            if byte == equals {
                guard value.endIndex - index >= 3 else {
                    throw .malformed("invalid '=' escape in \(what)")
                }
                let escape = (value[index + 1], value[index + 2])
                switch escape {
                case (UInt8(ascii: "2"), UInt8(ascii: "C")): out.append(comma)
                case (UInt8(ascii: "3"), UInt8(ascii: "D")): out.append(equals)
                default: throw .malformed("invalid '=' escape in \(what)")
                }
                index += 3
            } else {
                out.append(byte)
                index += 1
            }
        }
        guard let name = String(validating: out, as: UTF8.self) else { throw .malformed("\(what) is not valid UTF-8") }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .malformed("\(what) contains control characters")
        }
        return name
    }

    /// Encodes a username as a `saslname` (the inverse of `unescapeSaslname`).
    static func escapeSaslname(_ name: String) -> [UInt8] {
        var out: [UInt8] = []
        for byte in name.utf8 {
            switch byte {
            case comma: out += Array("=2C".utf8)
            case equals: out += Array("=3D".utf8)
            default: out.append(byte)
            }
        }
        return out
    }

    /// Decodes a base64 attribute value strictly; malformed-request when it is not base64
    /// (inside SCRAM the outer `incorrect-encoding` condition does not apply: the XMPP payload decoded fine).
    static func base64(_ value: ArraySlice<UInt8>, what: String) throws(SASLError) -> [UInt8] {
        guard let bytes = SASLBase64.decode(value) else { throw .malformed("\(what) is not valid base64") }
        return bytes
    }
}
