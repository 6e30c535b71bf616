import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// The node's small HTTP side: `GET /health` for load balancers and the launcher, `GET /metrics`
/// for Prometheus. Plain NIOHTTP1: two fixed routes do not justify a web framework's build time
/// and memory in every node.
public final class HealthHTTPServer: Sendable {
    public struct Response: Sendable {
        public var status: HTTPResponseStatus
        public var contentType: String
        public var body: String
        public init(status: HTTPResponseStatus, contentType: String = "application/json", body: String) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }
    }

    public typealias Route = @Sendable () -> Response

    private let channel: any Channel
    public var port: Int { channel.localAddress?.port ?? 0 }

    private init(channel: any Channel) { self.channel = channel }

    public static func start(host: String, port: Int, routes: [String: Route], group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> HealthHTTPServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try child.pipeline.syncOperations.addHandler(RouteHandler(routes: routes))
                }
            }
            .bind(host: host, port: port)
            .get()
        return HealthHTTPServer(channel: channel)
    }

    public func close() async {
        try? await channel.close()
    }
}

private final class RouteHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let routes: [String: HealthHTTPServer.Route]
    private var head: HTTPRequestHead?

    init(routes: [String: HealthHTTPServer.Route]) { self.routes = routes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            let path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "")
            let response: HealthHTTPServer.Response
            if head.method != .GET {
                response = .init(status: .methodNotAllowed, contentType: "text/plain", body: "only GET is served\n")
            } else if let route = routes[path] {
                response = route()
            } else {
                response = .init(status: .notFound, contentType: "text/plain", body: "not found; try /health or /metrics\n")
            }
            write(response, keepAlive: head.isKeepAlive, context: context)
            self.head = nil
        }
    }

    private func write(_ response: HealthHTTPServer.Response, keepAlive: Bool, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: "\(response.body.utf8.count)")
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))), promise: nil)
        context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: response.body)))), promise: nil)
        let done = context.writeAndFlush(Self.wrapOutboundOut(.end(nil)))
        if !keepAlive {
            done.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}
