/// The SASL failure conditions of RFC 6120 §6.5.
///
/// The raw values are the XML element names that go inside `<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>`,
/// so the stream layer can serialise a condition without a lookup table of its own.
public enum SASLFailureCondition: String, Sendable, Hashable, CaseIterable {
    /// The initiating entity sent `<abort/>` (§6.5.1).
    case aborted = "aborted"
    /// The account exists but is disabled (§6.5.2).
    case accountDisabled = "account-disabled"
    /// The credentials have expired (§6.5.3).
    case credentialsExpired = "credentials-expired"
    /// The mechanism needs a confidential channel (e.g. PLAIN before TLS) (§6.5.4).
    case encryptionRequired = "encryption-required"
    /// The base64 text of `<auth>` or `<response>` is not valid base64 (§6.5.5).
    case incorrectEncoding = "incorrect-encoding"
    /// The authorization identity is malformed or the user may not act as it (§6.5.6).
    case invalidAuthzid = "invalid-authzid"
    /// The requested mechanism is not offered (§6.5.7).
    case invalidMechanism = "invalid-mechanism"
    /// The request is syntactically wrong (§6.5.8).
    case malformedRequest = "malformed-request"
    /// The mechanism is weaker than policy allows (§6.5.9).
    case mechanismTooWeak = "mechanism-too-weak"
    /// Authentication failed; deliberately says nothing about why (§6.5.10).
    case notAuthorized = "not-authorized"
    /// A temporary server-side problem; the client may retry later (§6.5.11).
    case temporaryAuthFailure = "temporary-auth-failure"
}

/// A SASL failure: the RFC 6120 condition plus a short human-readable text.
///
/// Every text produced by this module is safe to put on the wire in `<text/>`: none of them depends on
/// whether the account exists, so the text cannot be used to enumerate users.
public struct SASLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The condition to send in `<failure>`.
    public var condition: SASLFailureCondition
    /// A short explanation, suitable for `<text xml:lang='en'>` and for logs.
    public var text: String

    public init(_ condition: SASLFailureCondition, _ text: String) {
        self.condition = condition
        self.text = text
    }

    public init(condition: SASLFailureCondition, text: String) {
        self.init(condition, text)
    }

    public var description: String { "SASL \(condition.rawValue): \(text)" }

    static func malformed(_ text: String) -> SASLError { SASLError(.malformedRequest, text) }
    static func notAuthorized(_ text: String) -> SASLError { SASLError(.notAuthorized, text) }
}
