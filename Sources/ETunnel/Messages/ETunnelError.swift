/// Every eTunnel failure: a code that travels on the wire and a message for humans.
///
/// A struct with an extensible `Code` rather than an enum, so new codes never break callers'
/// `switch`es; compare with `error.code == .timedOut`.
public struct ETunnelError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }

        public static let protocolViolation = Code(rawValue: 1)
        public static let frameTooLarge = Code(rawValue: 2)
        public static let unsupportedVersion = Code(rawValue: 3)
        public static let unknownFrameKind = Code(rawValue: 4)
        public static let authenticationFailed = Code(rawValue: 5)
        public static let timedOut = Code(rawValue: 6)
        public static let cancelled = Code(rawValue: 7)
        public static let connectionClosed = Code(rawValue: 8)
        public static let peerUnavailable = Code(rawValue: 9)
        public static let noSuchMethod = Code(rawValue: 10)
        public static let handlerFailed = Code(rawValue: 11)
        public static let deadPeer = Code(rawValue: 12)
        public static let shuttingDown = Code(rawValue: 13)
        public static let badPayload = Code(rawValue: 14)
        public static let handshakeTimeout = Code(rawValue: 15)
        public static let flowControlViolation = Code(rawValue: 16)
        /// A refusal by the application (e.g. "not the owner of this key at this epoch").
        public static let refused = Code(rawValue: 17)

        public var description: String {
            switch self {
            case .protocolViolation: "protocol-violation"
            case .frameTooLarge: "frame-too-large"
            case .unsupportedVersion: "unsupported-version"
            case .unknownFrameKind: "unknown-frame-kind"
            case .authenticationFailed: "authentication-failed"
            case .timedOut: "timed-out"
            case .cancelled: "cancelled"
            case .connectionClosed: "connection-closed"
            case .peerUnavailable: "peer-unavailable"
            case .noSuchMethod: "no-such-method"
            case .handlerFailed: "handler-failed"
            case .deadPeer: "dead-peer"
            case .shuttingDown: "shutting-down"
            case .badPayload: "bad-payload"
            case .handshakeTimeout: "handshake-timeout"
            case .flowControlViolation: "flow-control-violation"
            case .refused: "refused"
            default: "code-\(rawValue)"
            }
        }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "eTunnel \(code): \(message)" }
}
