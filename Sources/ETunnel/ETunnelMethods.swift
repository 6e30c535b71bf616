import NIOCore

/// A method id: the high 16 bits name a service, the low 16 bits a method in it.
public struct MethodID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(service: UInt16, method: UInt16) { self.rawValue = UInt32(service) << 16 | UInt32(method) }
    public var description: String { "0x" + String(rawValue, radix: 16) }
}

/// A request or one-way message received from a peer. Answer a request exactly once, from any
/// thread, with `respond` or `fail`; its flow-control credit returns to the peer then.
public struct IncomingCall: Sendable {
    public let method: MethodID
    public let payload: ByteBuffer
    public let isOneWay: Bool
    /// The authenticated name of the calling node.
    public let peerName: String
    let correlationID: UInt64
    let core: ConnectionCore

    public var allocator: ByteBufferAllocator { core.allocator }

    public func respond(_ payload: ByteBuffer) {
        guard !isOneWay else { return }
        core.completeIncoming(correlationID: correlationID, with: .success(payload))
    }

    /// Answers with `message`, or fails the call when it cannot be encoded.
    public func respond(_ message: some ETunnelMessage<ETunnelError>) {
        do {
            respond(try message.encoded(allocator: core.allocator))
        } catch {
            fail(error)
        }
    }

    public func respond(_ message: some ETunnelMessage<Never>) {
        respond(message.encoded(allocator: core.allocator))
    }

    public func fail(_ error: ETunnelError) {
        guard !isOneWay else { return }
        core.completeIncoming(correlationID: correlationID, with: .failure(error))
    }
}

/// The table of methods a node serves, fixed before the first connection is accepted.
public struct ETunnelMethods: Sendable {
    /// Called on the connection's event loop: do little here, hand heavy work to a task.
    public typealias Handler = @Sendable (IncomingCall) -> Void

    private(set) var handlers: [MethodID: Handler] = [:]

    public init() {}

    /// Registers a handler that runs on the event loop and answers through `IncomingCall`.
    public mutating func register(_ method: MethodID, _ handler: @escaping Handler) {
        precondition(handlers[method] == nil, "method \(method) registered twice")
        handlers[method] = handler
    }

    /// Registers an async request handler; a thrown `ETunnelError` goes back to the caller as is,
    /// any other error as `handlerFailed`.
    public mutating func register(_ method: MethodID, async handler: @escaping @Sendable (IncomingCall) async throws -> ByteBuffer) {
        register(method) { call in
            Task {
                do {
                    call.respond(try await handler(call))
                } catch let error as ETunnelError {
                    call.fail(error)
                } catch {
                    call.fail(ETunnelError(.handlerFailed, "\(error)"))
                }
            }
        }
    }

    func handler(for method: MethodID) -> Handler? { handlers[method] }
}
