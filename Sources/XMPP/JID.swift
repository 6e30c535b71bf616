/// An XMPP address, `[localpart@]domainpart[/resourcepart]` (RFC 7622).
///
/// Parsing follows RFC 7622 §3.1–3.4 in its essentials, not the full PRECIS profiles:
/// - the resourcepart is everything after the first `/`, the localpart everything before the
///   first `@` that precedes it, and each present part must be 1…1023 bytes of UTF-8;
/// - the localpart may not contain `"&'/:<>@`, whitespace or control characters;
/// - the domainpart loses one trailing `.`, must be a bracketed IPv6 literal or dot-separated
///   non-empty labels of letters, digits, `-`, `_` or non-ASCII characters (no IDNA conversion);
/// - localpart and domainpart are case-folded with Swift's full Unicode `lowercased()`, which
///   stands in for PRECIS case mapping; width mapping and NFC are not applied (Swift string
///   equality already treats canonically equivalent strings as equal, so `==` and hashing do);
/// - the resourcepart is kept as is (it is case-sensitive) and may not contain controls.
public struct JID: Hashable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    /// The normalised localpart (the "user"), if any.
    public let local: String?
    /// The normalised domainpart; never empty.
    public let domain: String
    /// The resourcepart, as given.
    public let resource: String?

    /// The longest allowed part, in UTF-8 bytes (RFC 7622 §3.2–3.4).
    public static let maxPartBytes = 1023

    /// Parses a JID, or returns `nil`; ``init(parsing:)`` says why.
    public init?(_ string: String) {
        guard let jid = try? JID(parsing: string) else { return nil }
        self = jid
    }

    /// Parses a JID, throwing the reason it is malformed.
    public init(parsing string: String) throws(JIDError) {
        var rest = Substring(string)
        var resource: Substring?
        if let slash = rest.firstIndex(of: "/") {
            resource = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var local: Substring?
        if let at = rest.firstIndex(of: "@") {
            local = rest[..<at]
            rest = rest[rest.index(after: at)...]
        }
        try self.init(local: local.map(String.init), domain: String(rest), resource: resource.map(String.init))
    }

    /// Builds a JID from parts, validating and normalising each.
    public init(local: String?, domain: String, resource: String? = nil) throws(JIDError) {
        if let local {
            self.local = try Self.normalizedLocalpart(local)
        } else {
            self.local = nil
        }
        self.domain = try Self.normalizedDomainpart(domain)
        if let resource {
            self.resource = try Self.validatedResourcepart(resource)
        } else {
            self.resource = nil
        }
    }

    private init(verifiedLocal local: String?, domain: String, resource: String?) {
        self.local = local
        self.domain = domain
        self.resource = resource
    }

    /// The JID without its resource (`user@domain`).
    public var bare: JID { JID(verifiedLocal: local, domain: domain, resource: nil) }

    /// Whether the JID has no resource.
    public var isBare: Bool { resource == nil }

    /// The same bare JID with another resource (a "full JID").
    public func withResource(_ resource: String) throws(JIDError) -> JID {
        JID(verifiedLocal: local, domain: domain, resource: try Self.validatedResourcepart(resource))
    }

    public var description: String {
        var result = ""
        if let local { result += local + "@" }
        result += domain
        if let resource { result += "/" + resource }
        return result
    }

    // MARK: Part rules

    // Every stanza's addresses pass through here, nearly always plain lower-case ASCII. For
    // those the checks below are byte tests that give the same answer as the Unicode rules
    // after them (nothing to lower-case or reject), without a Unicode property lookup per
    // character; anything else takes the full rules.

    private static func isPlainLocalpart(_ raw: String) -> Bool {
        raw.utf8.count <= maxPartBytes && raw.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): false  // lower-cased by the full rules
            case 0x21...0x7E: !"\"&'/:<>@".utf8.contains(byte)
            default: false  // controls, space, DEL, non-ASCII
            }
        }
    }

    private static func isPlainDomainpart(_ raw: String) -> Bool {
        guard raw.utf8.count <= maxPartBytes else { return false }
        var labelLength = 0
        for byte in raw.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                labelLength += 1
            case UInt8(ascii: "."):
                guard labelLength > 0 else { return false }
                labelLength = 0
            default:
                return false
            }
        }
        return labelLength > 0  // a trailing dot or an empty domain takes the full rules
    }

    private static func isPlainResourcepart(_ raw: String) -> Bool {
        !raw.isEmpty && raw.utf8.count <= maxPartBytes && raw.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
    }

    private static func normalizedLocalpart(_ raw: String) throws(JIDError) -> String {
        if isPlainLocalpart(raw), !raw.isEmpty { return raw }
        guard !raw.isEmpty else { throw .emptyLocalpart }
        let local = raw.lowercased()
        for scalar in local.unicodeScalars {
            switch scalar {
            case "\"", "&", "'", "/", ":", "<", ">", "@":
                throw .invalidLocalpartCharacter(scalar)
            default:
                if scalar.properties.isWhitespace || scalar.properties.generalCategory == .control {
                    throw .invalidLocalpartCharacter(scalar)
                }
            }
        }
        guard local.utf8.count <= maxPartBytes else { throw .localpartTooLong }
        return local
    }

    private static func normalizedDomainpart(_ raw: String) throws(JIDError) -> String {
        if isPlainDomainpart(raw) { return raw }
        var domain = Substring(raw)
        if domain.last == "." { domain = domain.dropLast() }
        guard !domain.isEmpty else { throw .emptyDomainpart }
        let lowered = domain.lowercased()
        guard lowered.utf8.count <= maxPartBytes else { throw .domainpartTooLong }
        if lowered.first == "[" {
            // An IPv6 literal (RFC 7622 §3.2 via RFC 3986 IP-literal), checked for its alphabet.
            let inner = lowered.dropFirst().dropLast()
            guard lowered.last == "]", !inner.isEmpty,
                  inner.unicodeScalars.allSatisfy({ $0.properties.isASCIIHexDigit || $0 == ":" || $0 == "." })
            else { throw .invalidDomainpart }
            return lowered
        }
        var labelLength = 0
        for scalar in lowered.unicodeScalars {
            if scalar == "." {
                guard labelLength > 0 else { throw .invalidDomainpart }
                labelLength = 0
                continue
            }
            labelLength += 1
            if scalar.isASCII {
                guard scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "-" || scalar == "_" else {
                    throw .invalidDomainpart
                }
            } else if scalar.properties.isWhitespace || scalar.properties.generalCategory == .control {
                throw .invalidDomainpart
            }
        }
        guard labelLength > 0 else { throw .invalidDomainpart }
        return lowered
    }

    private static func validatedResourcepart(_ resource: String) throws(JIDError) -> String {
        if isPlainResourcepart(resource) { return resource }
        guard !resource.isEmpty else { throw .emptyResourcepart }
        guard resource.utf8.count <= maxPartBytes else { throw .resourcepartTooLong }
        for scalar in resource.unicodeScalars where scalar.properties.generalCategory == .control {
            throw .invalidResourcepartCharacter(scalar)
        }
        return resource
    }
}

/// Why a string is not a valid ``JID``. A stanza carrying one should be answered with
/// `<jid-malformed/>` (RFC 6120 §8.3.3.8).
public enum JIDError: Error, Sendable, Hashable, CustomStringConvertible {
    case emptyLocalpart
    case localpartTooLong
    case invalidLocalpartCharacter(Unicode.Scalar)
    case emptyDomainpart
    case domainpartTooLong
    case invalidDomainpart
    case emptyResourcepart
    case resourcepartTooLong
    case invalidResourcepartCharacter(Unicode.Scalar)

    public var description: String {
        switch self {
        case .emptyLocalpart: "empty localpart"
        case .localpartTooLong: "localpart longer than \(JID.maxPartBytes) bytes"
        case .invalidLocalpartCharacter(let scalar): "character U+\(hex(scalar)) not allowed in a localpart"
        case .emptyDomainpart: "empty domainpart"
        case .domainpartTooLong: "domainpart longer than \(JID.maxPartBytes) bytes"
        case .invalidDomainpart: "invalid domainpart"
        case .emptyResourcepart: "empty resourcepart"
        case .resourcepartTooLong: "resourcepart longer than \(JID.maxPartBytes) bytes"
        case .invalidResourcepartCharacter(let scalar): "character U+\(hex(scalar)) not allowed in a resourcepart"
        }
    }

    private func hex(_ scalar: Unicode.Scalar) -> String {
        let digits = String(scalar.value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
