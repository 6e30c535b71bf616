/// The `type` attribute of a stanza `<error/>` (RFC 6120 §8.3.2): what the sender should do.
public enum StanzaErrorType: String, Sendable, Hashable, CaseIterable {
    /// Do not retry (the error cannot be remedied).
    case cancel
    /// Proceed (the condition was only a warning).
    case `continue`
    /// Retry after changing the data sent.
    case modify
    /// Retry after providing credentials.
    case auth
    /// Retry after waiting (the error is temporary).
    case wait
}

/// The defined stanza error conditions of RFC 6120 §8.3.3. The raw value is the element name,
/// qualified by ``XMLNamespace/xmppStanzas``.
public enum StanzaErrorCondition: String, Sendable, Hashable, CaseIterable {
    case badRequest = "bad-request"
    case conflict
    case featureNotImplemented = "feature-not-implemented"
    case forbidden
    case gone
    case internalServerError = "internal-server-error"
    case itemNotFound = "item-not-found"
    case jidMalformed = "jid-malformed"
    case notAcceptable = "not-acceptable"
    case notAllowed = "not-allowed"
    case notAuthorized = "not-authorized"
    case policyViolation = "policy-violation"
    case recipientUnavailable = "recipient-unavailable"
    case redirect
    case registrationRequired = "registration-required"
    case remoteServerNotFound = "remote-server-not-found"
    case remoteServerTimeout = "remote-server-timeout"
    case resourceConstraint = "resource-constraint"
    case serviceUnavailable = "service-unavailable"
    case subscriptionRequired = "subscription-required"
    case undefinedCondition = "undefined-condition"
    case unexpectedRequest = "unexpected-request"

    /// The error type RFC 6120 §8.3.3 says the condition SHOULD carry. Where the RFC allows two
    /// (feature-not-implemented: cancel/modify; policy-violation: modify/wait; unexpected-request:
    /// wait/modify) this is the first one it names; undefined-condition allows any and gets
    /// `cancel`. Callers that know better pass a type explicitly.
    public var defaultType: StanzaErrorType {
        switch self {
        case .badRequest, .jidMalformed, .notAcceptable, .policyViolation, .redirect: .modify
        case .forbidden, .notAuthorized, .registrationRequired, .subscriptionRequired: .auth
        case .recipientUnavailable, .remoteServerTimeout, .resourceConstraint, .unexpectedRequest: .wait
        case .conflict, .featureNotImplemented, .gone, .internalServerError, .itemNotFound, .notAllowed,
             .remoteServerNotFound, .serviceUnavailable, .undefinedCondition:
            .cancel
        }
    }
}
