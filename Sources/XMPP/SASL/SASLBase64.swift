/// Strict base64 (RFC 4648 §4, standard alphabet, padded) for SASL payloads and SCRAM attributes.
///
/// Written here rather than borrowed from Foundation because SASL wants *strict* decoding with a
/// precise error: RFC 6120 §6.5.5 makes bad base64 its own failure (`incorrect-encoding`), and
/// RFC 4648 §3.3 says to reject characters outside the alphabet. Foundation's decoder differs across
/// platforms in what it tolerates (missing padding, non-zero pad bits), and we want one behaviour.
public enum SASLBase64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Maps an ASCII byte to its 6-bit value, or 0xFF when it is not in the alphabet.
    private static let reverse: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    /// Encodes bytes as padded base64. Empty input gives the empty string.
    public static func encode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let input = Array(bytes)
        var output: [UInt8] = []
        output.reserveCapacity((input.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= input.count {
            let chunk = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
            output.append(alphabet[Int(chunk >> 18 & 0x3F)])
            output.append(alphabet[Int(chunk >> 12 & 0x3F)])
            output.append(alphabet[Int(chunk >> 6 & 0x3F)])
            output.append(alphabet[Int(chunk & 0x3F)])
            index += 3
        }
        switch input.count - index {
        case 1:
            let chunk = UInt32(input[index]) << 16
            output.append(alphabet[Int(chunk >> 18 & 0x3F)])
            output.append(alphabet[Int(chunk >> 12 & 0x3F)])
            output.append(UInt8(ascii: "="))
            output.append(UInt8(ascii: "="))
        case 2:
            let chunk = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8
            output.append(alphabet[Int(chunk >> 18 & 0x3F)])
            output.append(alphabet[Int(chunk >> 12 & 0x3F)])
            output.append(alphabet[Int(chunk >> 6 & 0x3F)])
            output.append(UInt8(ascii: "="))
        default:
            break
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes strict, padded base64; `nil` when the text is not canonical base64.
    ///
    /// Rejected: characters outside the alphabet (including whitespace), a length that is not a
    /// multiple of four, padding anywhere but the end, and non-zero bits under the padding (so every
    /// byte string has exactly one accepted encoding, which matters when SCRAM compares encodings).
    /// The empty string decodes to no bytes.
    public static func decode<Text: Collection>(_ text: Text) -> [UInt8]? where Text.Element == UInt8 {
        let input = Array(text)
        guard input.count % 4 == 0 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(input.count / 4 * 3)
        var index = 0
        while index < input.count {
            let isLast = index + 4 == input.count
            let a = reverse[Int(input[index])]
            let b = reverse[Int(input[index + 1])]
            guard a != 0xFF, b != 0xFF else { return nil }
            let third = input[index + 2]
            let fourth = input[index + 3]
            let equals = UInt8(ascii: "=")
            if isLast && third == equals && fourth == equals {
                guard b & 0x0F == 0 else { return nil }
                output.append(a << 2 | b >> 4)
            } else if isLast && fourth == equals {
                let c = reverse[Int(third)]
                guard c != 0xFF, c & 0x03 == 0 else { return nil }
                output.append(a << 2 | b >> 4)
                output.append(b << 4 | c >> 2)
            } else {
                let c = reverse[Int(third)]
                let d = reverse[Int(fourth)]
                guard c != 0xFF, d != 0xFF else { return nil }
                output.append(a << 2 | b >> 4)
                output.append(b << 4 | c >> 2)
                output.append(c << 6 | d)
            }
            index += 4
        }
        return output
    }

    /// Decodes strict base64 from a string; `nil` when it is not canonical base64.
    public static func decode(_ text: String) -> [UInt8]? {
        decode(Array(text.utf8))
    }

    /// Decodes the character data of an XMPP `<auth>` or `<response>` element (RFC 6120 §6.4.2).
    ///
    /// XMPP distinguishes "no data" from "empty data": an element with no text carries no initial
    /// response (returns `nil`, the mechanism then starts with an empty challenge), while a single
    /// `=` is a present but zero-length response (returns `[]`). Anything else must be strict base64,
    /// otherwise the exchange fails with `incorrect-encoding` (§6.5.5).
    public static func decodeElementText(_ text: String) throws(SASLError) -> [UInt8]? {
        if text.isEmpty { return nil }
        if text == "=" { return [] }
        guard let bytes = decode(text) else {
            throw SASLError(.incorrectEncoding, "SASL data is not valid base64")
        }
        return bytes
    }

    /// Encodes bytes for the character data of `<challenge>`, `<response>` or `<success>`:
    /// zero-length data becomes `=` so the peer can tell it from "no data" (RFC 6120 §6.4.2, §6.4.6).
    public static func encodeElementText<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        bytes.isEmpty ? "=" : encode(bytes)
    }
}
