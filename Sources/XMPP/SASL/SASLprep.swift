import Foundation

/// A pragmatic SASLprep (RFC 4013) for passwords, applied identically when credentials are derived,
/// when PLAIN passwords are checked, and by the SCRAM client, so that the same typed password always
/// produces the same bytes.
///
/// What is implemented:
/// - mapping: the "commonly mapped to nothing" characters (stringprep B.1) are removed, and every
///   non-ASCII space (general category Zs) becomes U+0020 (C.1.2);
/// - normalisation: Unicode NFKC (Foundation's `precomposedStringWithCompatibilityMapping`);
/// - prohibition: control characters (Cc), format characters (Cf, which covers C.2.2's invisible
///   controls, C.8's bidi overrides and C.9's tag characters), line/paragraph separators, private use
///   (C.3), non-characters (C.4), U+FFFC/U+FFFD (C.6), ideographic description characters (C.7) and
///   code points unassigned in the running Unicode version;
/// - the empty string is rejected.
///
/// What is simplified (and why that is acceptable here):
/// - the tables are Swift's current Unicode properties, not stringprep's frozen Unicode 3.2 tables, so
///   a few exotic characters are classified differently; all of them are far from anything a user types;
/// - the bidirectional rules of RFC 3454 §6 (RandALCat/LCat mixing) are not checked: they only reject
///   strings, never change them, so skipping them cannot make two different passwords collide;
/// - "unassigned" means unassigned in the Unicode version of the running Swift runtime, so characters
///   assigned after Unicode 3.2 are accepted (RFC 4013 would reject them in stored passwords).
/// Every ASCII password without control characters passes through unchanged, which is what matters
/// for interoperability with clients that skip SASLprep entirely.
enum SASLprep {
    /// Characters that stringprep table B.1 maps to nothing.
    private static func isMappedToNothing(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00AD, 0x034F, 0x1806, 0x180B...0x180D, 0x200B...0x200D, 0x2060, 0xFE00...0xFE0F, 0xFEFF: true
        default: false
        }
    }

    private static func isProhibited(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0xFFF9...0xFFFD, 0x2FF0...0x2FFB: return true
        default: break
        }
        if scalar.properties.isNoncharacterCodePoint { return true }
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .surrogate, .unassigned:
            return true
        default:
            return false
        }
    }

    /// Prepares a password, or explains why it is not acceptable.
    static func prepare(_ password: String) throws(SCRAMCredentialsError) -> String {
        var mapped = String.UnicodeScalarView()
        for scalar in password.unicodeScalars where !isMappedToNothing(scalar) {
            if scalar.value != 0x20, scalar.properties.generalCategory == .spaceSeparator {
                mapped.append(" ")
            } else {
                mapped.append(scalar)
            }
        }
        let normalized = String(mapped).precomposedStringWithCompatibilityMapping
        guard !normalized.isEmpty else { throw .invalidPassword("password is empty") }
        if normalized.unicodeScalars.contains(where: isProhibited) {
            throw .invalidPassword("password contains control, formatting, private-use or unassigned characters")
        }
        return normalized
    }

    /// The prepared password as the UTF-8 bytes that go into `Hi()`.
    static func preparedBytes(_ password: String) throws(SCRAMCredentialsError) -> [UInt8] {
        Array(try prepare(password).utf8)
    }
}
