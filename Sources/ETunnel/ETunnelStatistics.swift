import Synchronization

/// Process-wide eTunnel counters, kept as relaxed atomics (cheap enough for the hot path) and
/// read by the node's `/metrics` at scrape time.
public final class ETunnelStatistics: Sendable {
    public static let shared = ETunnelStatistics()

    public let framesIn = Atomic<UInt64>(0)
    public let framesOut = Atomic<UInt64>(0)
    public let bytesIn = Atomic<UInt64>(0)
    public let bytesOut = Atomic<UInt64>(0)
    public let callsStarted = Atomic<UInt64>(0)
    public let callsFailed = Atomic<UInt64>(0)
    public let callsTimedOut = Atomic<UInt64>(0)
    public let connectionsOpened = Atomic<UInt64>(0)
    public let connectionsClosed = Atomic<UInt64>(0)
    public let handshakesRefused = Atomic<UInt64>(0)
    public let protocolErrors = Atomic<UInt64>(0)

    /// Name, help and value of every counter, for exporters.
    public var snapshot: [(name: String, help: String, value: UInt64)] {
        [
            ("etunnel_frames_in_total", "eTunnel frames received", framesIn.load(ordering: .relaxed)),
            ("etunnel_frames_out_total", "eTunnel frames sent", framesOut.load(ordering: .relaxed)),
            ("etunnel_bytes_in_total", "eTunnel bytes received", bytesIn.load(ordering: .relaxed)),
            ("etunnel_bytes_out_total", "eTunnel bytes sent", bytesOut.load(ordering: .relaxed)),
            ("etunnel_calls_total", "eTunnel calls made", callsStarted.load(ordering: .relaxed)),
            ("etunnel_calls_failed_total", "eTunnel calls that failed (any reason, timeouts included)", callsFailed.load(ordering: .relaxed)),
            ("etunnel_calls_timed_out_total", "eTunnel calls that hit their deadline", callsTimedOut.load(ordering: .relaxed)),
            ("etunnel_connections_opened_total", "eTunnel connections established (both directions)", connectionsOpened.load(ordering: .relaxed)),
            ("etunnel_connections_closed_total", "eTunnel connections closed after establishment", connectionsClosed.load(ordering: .relaxed)),
            ("etunnel_handshakes_refused_total", "eTunnel handshakes refused (bad secret, version, timeout)", handshakesRefused.load(ordering: .relaxed)),
            ("etunnel_protocol_errors_total", "eTunnel connections cut for a protocol error", protocolErrors.load(ordering: .relaxed)),
        ]
    }
}
