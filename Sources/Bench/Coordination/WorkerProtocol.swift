/// What the coordinating process asks of a generator (itself, or a worker process over a pipe
/// as one JSON line per message). Rates are global (all devices of all processes); each
/// process scales them to its share, so the coordinator never needs to know how devices are
/// split.
public enum WorkerCommand: Sendable, Codable, Equatable {
    /// Log this process's devices in at `rate` devices/s (global) from `startNs`; answered with
    /// `.connected` when every device is ready or failed.
    case connect(startNs: UInt64, rate: Double)
    /// Close every stream; answered when all are closed.
    case disconnect
    /// Run a chat step at `rate` messages/s (global) for `seconds` from `startNs`; answered with
    /// `.sent` when the schedule has run out.
    case chatStep(step: Int, startNs: UInt64, rate: Double, seconds: Double)
    /// How many messages of `step` this process's devices have received so far.
    case progress(step: Int)
    /// The step's full statistics (after the drain).
    case collect(step: Int)
    case status
    case shutdown
}

public enum WorkerReply: Sendable, Codable {
    case connected(ConnectStats)
    case disconnected
    case sent(sent: Int, notSent: Int)
    case progress(received: Int)
    case collected(ChatShardStats)
    case status(ShardStatus)
    case stopped
    case failed(String)
}

/// A generator the coordinator can drive: the engine in this process, or a worker process.
public protocol WorkerLink: Sendable {
    /// The process doing the work, for CPU accounting.
    var pid: Int32 { get }
    func call(_ command: WorkerCommand) async throws -> WorkerReply
}

public struct WorkerProtocolError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
