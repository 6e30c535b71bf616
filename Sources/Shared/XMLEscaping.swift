extension String {
    /// The string with XML's five special characters escaped, safe inside text and inside
    /// single- or double-quoted attribute values. For the few stanzas written from strings
    /// (routers never parse stanzas, so they build theirs this way).
    public var xmlEscaped: String {
        guard utf8.contains(where: { $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") || $0 == UInt8(ascii: "'") || $0 == UInt8(ascii: "\"") }) else {
            return self
        }
        var out = ""
        out.reserveCapacity(utf8.count + 16)
        for character in self {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "'": out += "&apos;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }
}
