/// Namespace names that the XMPP core layers compare against.
///
/// They are plain strings because namespace matching in XML is an exact, code-point comparison of
/// the URI (no normalisation), which is what `==` on these values does.
public enum XMLNamespace {
    /// The stream namespace that qualifies `<stream:stream>`, `<stream:features>` and
    /// `<stream:error>` (RFC 6120 §4.8.1).
    public static let streams = "http://etherx.jabber.org/streams"
    /// Namespace of the defined stream error conditions (RFC 6120 §4.9.2).
    public static let xmppStreams = "urn:ietf:params:xml:ns:xmpp-streams"
    /// Namespace of the defined stanza error conditions (RFC 6120 §8.3.2).
    public static let xmppStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
    /// STARTTLS negotiation (RFC 6120 §5).
    public static let tls = "urn:ietf:params:xml:ns:xmpp-tls"
    /// SASL negotiation (RFC 6120 §6).
    public static let sasl = "urn:ietf:params:xml:ns:xmpp-sasl"
    /// Resource binding (RFC 6120 §7).
    public static let bind = "urn:ietf:params:xml:ns:xmpp-bind"
    /// The legacy session request (RFC 3921 §3, kept by RFC 6121 servers as optional).
    public static let session = "urn:ietf:params:xml:ns:xmpp-session"
    /// Content namespace of client-to-server streams (RFC 6120 §4.8.2).
    public static let jabberClient = "jabber:client"
    /// Content namespace of server-to-server streams (RFC 6120 §4.8.2).
    public static let jabberServer = "jabber:server"
    /// Content namespace of external components (XEP-0114).
    public static let jabberComponentAccept = "jabber:component:accept"
    /// The namespace permanently bound to the `xml:` prefix (Namespaces in XML §3); `xml:lang`
    /// lives here.
    public static let xml = "http://www.w3.org/XML/1998/namespace"

    /// Content namespaces in which `<message/>`, `<presence/>` and `<iq/>` are stanzas.
    public static let stanzaContentNamespaces: Set<String> = [jabberClient, jabberServer, jabberComponentAccept]
}
