/// The SASL PLAIN message (RFC 4616): `[authzid] NUL authcid NUL passwd`.
///
/// Only parsing lives here; checking the password is `SCRAMCredentials.verifies(plainPassword:)`,
/// because accounts are stored as SCRAM credentials only. PLAIN must only be offered over TLS
/// (RFC 6120 §6.5.4 encryption-required); enforcing that is the stream layer's job.
public enum PLAINMessage {
    /// Longest accepted part. RFC 4616 §2 requires servers to accept 255 octets per part; we accept
    /// no more, which bounds the work a single `<auth>` can cause.
    public static let maximumPartLength = 255

    /// Splits a PLAIN message.
    ///
    /// Fails with malformed-request unless there are exactly two NUL separators, authcid and password
    /// are non-empty, every part is valid UTF-8 and at most 255 bytes. An empty authzid means "act as
    /// the authenticated identity" and is returned as `nil`; a present authzid must be checked by the
    /// caller (invalid-authzid, RFC 6120 §6.3.8).
    public static func parse(_ bytes: [UInt8]) throws(SASLError) -> (authzid: String?, authcid: String, password: String) {
        let parts = bytes.split(separator: 0, maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw .malformed("PLAIN message must contain exactly two NUL separators")
        }
        let authzid = try part(parts[0], name: "authorization identity")
        let authcid = try part(parts[1], name: "authentication identity")
        let password = try part(parts[2], name: "password")
        guard !authcid.isEmpty else { throw .malformed("empty authentication identity") }
        guard !password.isEmpty else { throw .malformed("empty password") }
        return (authzid.isEmpty ? nil : authzid, authcid, password)
    }

    private static func part(_ bytes: ArraySlice<UInt8>, name: String) throws(SASLError) -> String {
        guard bytes.count <= maximumPartLength else { throw .malformed("\(name) is longer than 255 bytes") }
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw .malformed("\(name) is not valid UTF-8")
        }
        return string
    }
}
