import NIOCore
import Synchronization

/// How a callback-style call ends: the answer's payload, or why there is none.
public typealias ETunnelCompletion = @Sendable (Result<ByteBuffer, ETunnelError>) -> Void

/// The shared half of one established eTunnel connection: the call table, flow-control credits
/// and the outbound batch. Any thread may call in; the channel handler feeds it frames on the
/// event loop.
///
/// Writes are coalesced: every frame is appended to one outbound buffer under the lock, and the
/// first append after a flush schedules a single write-and-flush on the event loop, so a burst of
/// calls from many tasks costs one syscall per loop tick rather than one per frame.
final class ConnectionCore: Sendable {
    let channel: any Channel
    let allocator: ByteBufferAllocator
    let peerName: String
    let localName: String
    let maxFrameSize: Int
    let receiveWindow: Int
    let methods: ETunnelMethods
    private let state: Mutex<State>
    private let nextCorrelationID = Atomic<UInt64>(1)
    /// Mirrors `pending.count` so the pool can pick the least loaded connection without locking.
    private let pendingCount = Atomic<Int>(0)

    struct PendingCall {
        var reply: PendingReply
        var deadline: NIODeadline
    }

    /// Who waits for an answer: a suspended task, or a callback (the allocation-free path the
    /// front-end's per-stanza calls take: no task, no continuation, no executor hop).
    enum PendingReply: Sendable {
        case continuation(CheckedContinuation<ByteBuffer, any Error>)
        case callback(ETunnelCompletion)

        func resolve(_ result: Result<ByteBuffer, ETunnelError>) {
            switch self {
            case .continuation(let continuation):
                continuation.resume(with: result.mapError { $0 as any Error })
            case .callback(let completion):
                if case .failure(let error) = result {
                    ETunnelStatistics.shared.callsFailed.wrappingAdd(1, ordering: .relaxed)
                    if error.code == .timedOut { ETunnelStatistics.shared.callsTimedOut.wrappingAdd(1, ordering: .relaxed) }
                }
                completion(result)
            }
        }
    }

    /// A frame waiting for credit; one-way senders wait on `sent`.
    struct QueuedFrame {
        var kind: FrameKind
        var correlationID: UInt64
        var method: UInt32
        var payload: ByteBuffer
        var sent: CheckedContinuation<Void, any Error>?
    }

    struct State {
        var outbound: ByteBuffer
        var flushScheduled = false
        var lastBatchSize = 512
        var sendCredits: Int
        var creditQueue = CircularBuffer<QueuedFrame>()
        var pending: [UInt64: PendingCall] = [:]
        var timerDeadline: NIODeadline?
        var closedError: ETunnelError?
        var receivedUnanswered = 0
        var consumedSinceGrant = 0
    }

    init(channel: any Channel, localName: String, peerName: String, peerWindow: UInt32, configuration: ETunnelConfiguration, methods: ETunnelMethods) {
        self.channel = channel
        self.allocator = channel.allocator
        self.localName = localName
        self.peerName = peerName
        self.maxFrameSize = configuration.maxFrameSize
        self.receiveWindow = Int(configuration.receiveWindow)
        self.methods = methods
        self.state = Mutex(State(outbound: channel.allocator.buffer(capacity: 512), sendCredits: Int(peerWindow)))
    }

    /// Calls not yet answered (used by the pool to pick the least loaded connection).
    var outstanding: Int { pendingCount.load(ordering: .relaxed) }

    var isClosed: Bool { closed.load(ordering: .relaxed) }
    private let closed = Atomic<Bool>(false)

    // MARK: Outgoing calls

    func call(method: UInt32, payload: ByteBuffer, deadline: NIODeadline) async throws -> ByteBuffer {
        try checkSize(payload)
        let id = nextCorrelationID.wrappingAdd(1, ordering: .relaxed).oldValue
        ETunnelStatistics.shared.callsStarted.wrappingAdd(1, ordering: .relaxed)
        do {
            return try await registerCall(id: id, method: method, payload: payload, deadline: deadline)
        } catch {
            ETunnelStatistics.shared.callsFailed.wrappingAdd(1, ordering: .relaxed)
            if (error as? ETunnelError)?.code == .timedOut { ETunnelStatistics.shared.callsTimedOut.wrappingAdd(1, ordering: .relaxed) }
            throw error
        }
    }

    private func registerCall(id: UInt64, method: UInt32, payload: ByteBuffer, deadline: NIODeadline) async throws -> ByteBuffer {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ByteBuffer, any Error>) in
                let (schedule, timerAt, failure) = state.withLock { s -> (Bool, NIODeadline?, ETunnelError?) in
                    if let error = s.closedError { return (false, nil, error) }
                    if Task.isCancelled { return (false, nil, ETunnelError(.cancelled, "call to \(peerName) cancelled")) }
                    let (schedule, timerAt) = self.register(id: id, method: method, payload: payload, deadline: deadline, reply: .continuation(continuation), &s)
                    return (schedule, timerAt, nil)
                }
                if let failure { continuation.resume(throwing: failure); return }
                if let timerAt { scheduleExpiry(at: timerAt) }
                if schedule { scheduleFlush() }
            }
        } onCancel: {
            self.cancel(correlationID: id)
        }
    }

    /// The same call without a task: `completion` runs on this connection's event loop (or at
    /// once, on the caller's thread, when the call cannot start). It is called exactly once.
    func call(method: UInt32, payload: ByteBuffer, deadline: NIODeadline, completion: @escaping ETunnelCompletion) {
        do throws(ETunnelError) { try checkSize(payload) } catch {
            completion(.failure(error))
            return
        }
        let id = nextCorrelationID.wrappingAdd(1, ordering: .relaxed).oldValue
        ETunnelStatistics.shared.callsStarted.wrappingAdd(1, ordering: .relaxed)
        let (schedule, timerAt, failure) = state.withLock { s -> (Bool, NIODeadline?, ETunnelError?) in
            if let error = s.closedError { return (false, nil, error) }
            let (schedule, timerAt) = self.register(id: id, method: method, payload: payload, deadline: deadline, reply: .callback(completion), &s)
            return (schedule, timerAt, nil)
        }
        if let failure { PendingReply.callback(completion).resolve(.failure(failure)); return }
        if let timerAt { scheduleExpiry(at: timerAt) }
        if schedule { scheduleFlush() }
    }

    /// Records a pending call and writes (or queues) its request frame. Returns whether a flush
    /// must be scheduled and the deadline the expiry timer must be moved to, if any.
    private func register(id: UInt64, method: UInt32, payload: ByteBuffer, deadline: NIODeadline, reply: PendingReply, _ s: inout State) -> (Bool, NIODeadline?) {
        s.pending[id] = PendingCall(reply: reply, deadline: deadline)
        pendingCount.store(s.pending.count, ordering: .relaxed)
        var timerAt: NIODeadline?
        if s.timerDeadline.map({ deadline < $0 }) ?? true {
            s.timerDeadline = deadline
            timerAt = deadline
        }
        let frame = QueuedFrame(kind: .request, correlationID: id, method: method, payload: payload, sent: nil)
        return (sendOrQueue(frame, &s), timerAt)
    }

    /// Sends a one-way message. Returns once the frame is in the outbound batch; suspends while
    /// the peer has granted no credit (this is the back-pressure a slow receiver exerts).
    func send(method: UInt32, payload: ByteBuffer) async throws {
        try checkSize(payload)
        // Fast path: credit available, no suspension.
        let fast: Result<Bool, ETunnelError>? = state.withLock { s in
            if let error = s.closedError { return .failure(error) }
            guard s.sendCredits > 0, s.creditQueue.isEmpty else { return nil }
            s.sendCredits -= 1
            return .success(self.appendFrame(kind: .oneWay, correlationID: 0, method: method, payload: payload, &s))
        }
        switch fast {
        case .success(let schedule)?:
            if schedule { scheduleFlush() }
            return
        case .failure(let error)?:
            throw error
        case nil:
            // Slow path: wait for credit. A token identifies the queued frame for cancellation.
            let token = nextCorrelationID.wrappingAdd(1, ordering: .relaxed).oldValue
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    let (schedule, failure) = state.withLock { s -> (Bool, ETunnelError?) in
                        if let error = s.closedError { return (false, error) }
                        if Task.isCancelled { return (false, ETunnelError(.cancelled, "send to \(peerName) cancelled")) }
                        let frame = QueuedFrame(kind: .oneWay, correlationID: token, method: method, payload: payload, sent: continuation)
                        return (self.sendOrQueue(frame, &s), nil)
                    }
                    if let failure { continuation.resume(throwing: failure) }
                    if schedule { scheduleFlush() }
                }
            } onCancel: {
                self.cancelQueuedSend(token: token)
            }
        }
    }

    private func cancelQueuedSend(token: UInt64) {
        let continuation: CheckedContinuation<Void, any Error>? = state.withLock { s in
            guard let index = s.creditQueue.firstIndex(where: { $0.kind == .oneWay && $0.correlationID == token }) else { return nil }
            return s.creditQueue.remove(at: index).sent
        }
        continuation?.resume(throwing: ETunnelError(.cancelled, "send to \(peerName) cancelled"))
    }

    private func checkSize(_ payload: ByteBuffer) throws(ETunnelError) {
        let size = Frame.lengthFieldSize + Frame.headerLength + payload.readableBytes
        guard size <= maxFrameSize else {
            throw ETunnelError(.frameTooLarge, "a \(payload.readableBytes)-byte payload makes a \(size)-byte frame, over the \(maxFrameSize)-byte maximum")
        }
    }

    /// Writes the frame if credit allows, else queues it. Returns whether a flush must be scheduled.
    private func sendOrQueue(_ frame: QueuedFrame, _ s: inout State) -> Bool {
        if s.sendCredits > 0 && s.creditQueue.isEmpty {
            s.sendCredits -= 1
            let wireID = frame.kind == .oneWay ? 0 : frame.correlationID
            let schedule = appendFrame(kind: frame.kind, correlationID: wireID, method: frame.method, payload: frame.payload, &s)
            if let sent = frame.sent { sent.resume() }
            return schedule
        }
        s.creditQueue.append(frame)
        return false
    }

    private func appendFrame(kind: FrameKind, correlationID: UInt64, method: UInt32, payload: ByteBuffer, _ s: inout State) -> Bool {
        s.outbound.writeETunnelFrame(kind: kind, correlationID: correlationID, method: method, payload: payload)
        ETunnelStatistics.shared.framesOut.wrappingAdd(1, ordering: .relaxed)
        if s.flushScheduled { return false }
        s.flushScheduled = true
        return true
    }

    private func scheduleFlush() {
        channel.eventLoop.execute { self.flush() }
    }

    /// Runs on the event loop: hands the whole batch to the socket with one flush.
    private func flush() {
        let batch: ByteBuffer? = state.withLock { s in
            s.flushScheduled = false
            guard s.outbound.readableBytes > 0 else { return nil }
            let batch = s.outbound
            s.lastBatchSize = max(512, min(batch.readableBytes, 1 << 20))
            s.outbound = allocator.buffer(capacity: s.lastBatchSize)
            return batch
        }
        if let batch {
            ETunnelStatistics.shared.bytesOut.wrappingAdd(UInt64(batch.readableBytes), ordering: .relaxed)
            channel.writeAndFlush(batch, promise: nil)
        }
    }

    // MARK: Deadlines and cancellation

    private func scheduleExpiry(at deadline: NIODeadline) {
        channel.eventLoop.scheduleTask(deadline: deadline) { self.expireCalls() }
    }

    private func expireCalls() {
        let now = NIODeadline.now()
        let (expired, next) = state.withLock { s -> ([PendingReply], NIODeadline?) in
            var expired: [PendingReply] = []
            var next: NIODeadline?
            for (id, call) in s.pending {
                if call.deadline <= now {
                    expired.append(call.reply)
                    s.pending.removeValue(forKey: id)
                } else if next.map({ call.deadline < $0 }) ?? true {
                    next = call.deadline
                }
            }
            s.timerDeadline = next
            pendingCount.store(s.pending.count, ordering: .relaxed)
            return (expired, next)
        }
        let error = ETunnelError(.timedOut, "no answer from \(peerName) before the deadline")
        for reply in expired { reply.resolve(.failure(error)) }
        if let next { scheduleExpiry(at: next) }
    }

    private func cancel(correlationID id: UInt64) {
        let (reply, schedule) = state.withLock { s -> (PendingReply?, Bool) in
            guard let call = s.pending.removeValue(forKey: id) else { return (nil, false) }
            pendingCount.store(s.pending.count, ordering: .relaxed)
            guard s.closedError == nil else { return (call.reply, false) }
            return (call.reply, appendFrame(kind: .cancel, correlationID: id, method: 0, payload: ByteBuffer(), &s))
        }
        reply?.resolve(.failure(ETunnelError(.cancelled, "call to \(peerName) cancelled")))
        if schedule { scheduleFlush() }
    }

    // MARK: Incoming frames (event loop)

    func receive(_ frame: Frame) throws(ETunnelError) {
        switch frame.kind {
        case .response:
            // A late answer to a call that timed out or was cancelled is dropped.
            takePending(frame.correlationID)?.resolve(.success(frame.payload))

        case .error:
            let error = (try? ErrorPayload.decode(frame.payload).error)
                ?? ETunnelError(.protocolViolation, "malformed error frame from \(peerName)")
            guard frame.correlationID != 0 else { throw error }
            takePending(frame.correlationID)?.resolve(.failure(error))

        case .request:
            try admitIncoming()
            let call = IncomingCall(
                method: MethodID(rawValue: frame.method), payload: frame.payload, isOneWay: false,
                peerName: peerName, correlationID: frame.correlationID, core: self)
            if let handler = methods.handler(for: call.method) {
                handler(call)
            } else {
                call.fail(ETunnelError(.noSuchMethod, "\(localName) serves no method \(call.method)"))
            }

        case .oneWay:
            let call = IncomingCall(
                method: MethodID(rawValue: frame.method), payload: frame.payload, isOneWay: true,
                peerName: peerName, correlationID: 0, core: self)
            // Unknown one-way methods are dropped: there is no one to tell.
            methods.handler(for: call.method)?(call)
            try consumedOneWay()

        case .credit:
            var payload = frame.payload
            let credits = try payload.readPayloadInteger(UInt32.self, field: "credit.count")
            addCredits(Int(credits))

        case .heartbeat, .cancel:
            // Heartbeats only refresh liveness (done by the handler). Cancels are advisory: the
            // handler may still answer, and the caller drops the late answer.
            break

        case .hello, .challenge, .auth, .ready:
            throw ETunnelError(.protocolViolation, "\(frame.kind) frame after the handshake")
        }
    }

    private func takePending(_ id: UInt64) -> PendingReply? {
        state.withLock { s in
            let call = s.pending.removeValue(forKey: id)
            if call != nil { pendingCount.store(s.pending.count, ordering: .relaxed) }
            return call?.reply
        }
    }

    private func admitIncoming() throws(ETunnelError) {
        let admitted = state.withLock { s in
            s.receivedUnanswered += 1
            return s.receivedUnanswered <= receiveWindow
        }
        guard admitted else {
            throw ETunnelError(.flowControlViolation, "\(peerName) sent more than the granted \(receiveWindow) unanswered frames")
        }
    }

    /// A one-way frame costs and returns its credit in one step (one lock per message).
    private func consumedOneWay() throws(ETunnelError) {
        let result: Bool? = state.withLock { s in
            guard s.receivedUnanswered < receiveWindow else { return nil }
            s.receivedUnanswered += 1
            return grantCredit(&s)
        }
        guard let schedule = result else {
            throw ETunnelError(.flowControlViolation, "\(peerName) sent more than the granted \(receiveWindow) unanswered frames")
        }
        if schedule { scheduleFlush() }
    }

    /// Answers a request, from any thread.
    func completeIncoming(correlationID: UInt64, with result: Result<ByteBuffer, ETunnelError>) {
        var payload: ByteBuffer
        var kind = FrameKind.response
        switch result {
        case .success(let body):
            payload = body
            if Frame.lengthFieldSize + Frame.headerLength + body.readableBytes > maxFrameSize {
                kind = .error
                payload = ErrorPayload(ETunnelError(.frameTooLarge, "the answer of \(body.readableBytes) bytes is over the frame maximum")).encoded(allocator: allocator)
            }
        case .failure(let error):
            kind = .error
            payload = ErrorPayload(error).encoded(allocator: allocator)
        }
        let schedule = state.withLock { s -> Bool in
            guard s.closedError == nil else { return false }
            let a = appendFrame(kind: kind, correlationID: correlationID, method: 0, payload: payload, &s)
            let b = grantCredit(&s)
            return a || b
        }
        if schedule { scheduleFlush() }
    }

    /// Returns credit to the peer in batches of a quarter window, so credit frames stay rare.
    private func grantCredit(_ s: inout State) -> Bool {
        s.receivedUnanswered -= 1
        s.consumedSinceGrant += 1
        guard s.consumedSinceGrant >= max(1, receiveWindow / 4) || s.receivedUnanswered == 0 else { return false }
        var payload = allocator.buffer(capacity: 4)
        payload.writeInteger(UInt32(s.consumedSinceGrant))
        s.consumedSinceGrant = 0
        return appendFrame(kind: .credit, correlationID: 0, method: 0, payload: payload, &s)
    }

    private func addCredits(_ credits: Int) {
        var released: [CheckedContinuation<Void, any Error>] = []
        let schedule = state.withLock { s -> Bool in
            s.sendCredits += credits
            var schedule = false
            while s.sendCredits > 0, let frame = s.creditQueue.popFirst() {
                // A queued call that timed out or was cancelled no longer needs sending.
                if frame.kind == .request && s.pending[frame.correlationID] == nil { continue }
                s.sendCredits -= 1
                let wireID = frame.kind == .oneWay ? 0 : frame.correlationID
                schedule = appendFrame(kind: frame.kind, correlationID: wireID, method: frame.method, payload: frame.payload, &s) || schedule
                if let sent = frame.sent { released.append(sent) }
            }
            return schedule
        }
        for continuation in released { continuation.resume() }
        if schedule { scheduleFlush() }
    }

    func sendHeartbeat() {
        let schedule = state.withLock { s -> Bool in
            guard s.closedError == nil else { return false }
            return appendFrame(kind: .heartbeat, correlationID: 0, method: 0, payload: ByteBuffer(), &s)
        }
        if schedule { scheduleFlush() }
    }

    // MARK: Closing

    /// Tells the peer why (an ERROR frame for the whole connection), then closes: the peer's
    /// pending calls fail with this error rather than a bare "connection closed".
    func shutdown(_ error: ETunnelError) {
        let schedule = state.withLock { s -> Bool in
            guard s.closedError == nil else { return false }
            return appendFrame(kind: .error, correlationID: 0, method: 0, payload: ErrorPayload(error).encoded(allocator: allocator), &s)
        }
        if schedule { scheduleFlush() }
        close(error)
    }

    /// Fails every pending call and queued send with `error`; idempotent.
    func close(_ error: ETunnelError) {
        let (calls, queued) = state.withLock { s -> ([PendingReply], [CheckedContinuation<Void, any Error>]) in
            guard s.closedError == nil else { return ([], []) }
            s.closedError = error
            closed.store(true, ordering: .relaxed)
            let calls = s.pending.values.map(\.reply)
            s.pending.removeAll()
            pendingCount.store(0, ordering: .relaxed)
            let queued = s.creditQueue.compactMap(\.sent)
            s.creditQueue.removeAll()
            return (calls, queued)
        }
        for reply in calls { reply.resolve(.failure(error)) }
        for continuation in queued { continuation.resume(throwing: error) }
        channel.close(promise: nil)
    }
}
