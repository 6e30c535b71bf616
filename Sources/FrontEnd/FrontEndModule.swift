import ETunnel
import MMGSShared
import NIOSSL
import NodeRuntime
import ServiceLifecycle
import Synchronization

/// The front-end role: terminates device connections (XMPP c2s) and forwards stanzas to the
/// router that owns each destination.
public struct FrontEndModule: RoleModule {
    private let holder = Holder()

    final class Holder: Sendable {
        let server = Mutex<C2SServer?>(nil)
    }

    public init() {}

    public var role: NodeRole { .frontend }

    public func register(into methods: inout ETunnelMethods, context: NodeContext) throws {
        PathTracer(context: context, role: .frontend, next: .router).register(into: &methods)
        var configuration = C2SConfiguration(domain: context.configuration.domain)
        configuration.allowPlainWithoutTLS = context.configuration.allowPlainWithoutTLS
        configuration.requireTLS = context.configuration.requireTLS
        configuration.resumeWindow = .seconds(context.configuration.resumeWindowSeconds)
        configuration.decoySecret = Array(context.configuration.secret.utf8)
        configuration.serviceLimits = context.configuration.limits
        if let certificate = context.configuration.tlsCertificate, let key = context.configuration.tlsKey {
            configuration.tls = try Self.tlsContext(certificate: certificate, key: key)
        }
        let server = C2SServer(configuration: configuration, context: context)
        server.register(into: &methods)
        holder.server.withLock { $0 = server }
    }

    static func tlsContext(certificate: String, key: String) throws -> NIOSSLContext {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
            let privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
            return try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(privateKey)))
        } catch {
            throw ConfigurationError("cannot load the TLS certificate \(certificate) and key \(key): \(error) (PEM files expected; `make run` creates a self-signed pair in run/local/tls)")
        }
    }

    public func services(context: NodeContext) -> [any Service] {
        guard let server = holder.server.withLock({ $0 }), let listen = context.configuration.xmpp else { return [] }
        return [C2SService(server: server, listen: listen)]
    }

    public func endpoints(configuration: NodeConfiguration) -> [String: String] {
        configuration.xmpp.map { ["xmpp": $0.description] } ?? [:]
    }
}
