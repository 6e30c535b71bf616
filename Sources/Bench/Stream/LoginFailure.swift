/// Where in the login a device failed. Reports group failures by stage and condition so that
/// "3 000 × sasl/not-authorized" (wrong provisioning) is never confused with
/// "3 000 × connect/connection-refused" (server down) or a timeout (server overloaded).
public enum LoginStage: String, Sendable, Codable, CaseIterable {
    case connect, stream, tls, sasl, bind, session, timeout
}

/// Why one device did not reach the ready state: the stage, the XMPP condition (SASL failure,
/// stream error, stanza error condition element name) or a local reason, and any text the
/// server sent along.
public struct LoginFailure: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    public var stage: LoginStage
    public var condition: String
    public var text: String?

    public init(_ stage: LoginStage, _ condition: String, text: String? = nil) {
        self.stage = stage
        self.condition = condition
        self.text = text.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The grouping key of reports: `stage/condition`.
    public var reason: String { "\(stage.rawValue)/\(condition)" }

    public var description: String { text.map { "\(reason): \($0)" } ?? reason }
}
