import MMGSShared
import NIOSSL
import XMPPCore

/// Device-facing settings of a front-end.
public struct C2SConfiguration: Sendable {
    public var domain: String
    /// Offer SASL PLAIN on unencrypted streams too (off by default: PLAIN sends the password).
    public var allowPlainWithoutTLS = false
    /// STARTTLS (RFC 6120 §5); nil: not offered.
    public var tls: NIOSSLContext?
    /// Refuse authentication before STARTTLS.
    public var requireTLS = false
    public var limits = XMLStreamLimits()
    /// How long a stream may take from TCP connect to a bound resource.
    public var negotiationTimeout: Duration = .seconds(30)
    /// XEP-0198: how long a dropped resumable stream waits for its device.
    public var resumeWindow: Duration = .seconds(300)
    /// Failed authentication attempts allowed on one stream before it is closed.
    public var maxAuthFailures = 3
    /// Makes the decoy SCRAM salt of unknown users identical on every front-end (the cluster
    /// secret), so that no front-end reveals which accounts exist.
    public var decoySecret: [UInt8] = []
    /// A bound stream that has read nothing for this long gives back its XML parser's memory
    /// (it is rebuilt on the next read). Long enough that a device in a conversation keeps its
    /// parser between messages (at 1 s, a device chatting every two seconds had its parser
    /// freed and rebuilt for nearly every message), short enough that an idle stream is small
    /// within seconds.
    public var idleRelease: Duration = .seconds(5)

    /// Stanza rate per stream and the failed-login back-off (the cluster file's `"limits"`).
    public var serviceLimits = ServiceLimits()
    /// Stanzas of one stream waiting for their router: at this many the stream stops reading
    /// the device, and reads again once the queue is down to half (back-pressure reaches the
    /// device through TCP instead of piling up here).
    public var maxPendingWork = 64

    public init(domain: String) { self.domain = domain }
}
