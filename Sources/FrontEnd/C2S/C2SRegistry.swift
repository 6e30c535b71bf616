import Synchronization

/// The device streams of this front-end, by stream id (the id routers address them by).
final class C2SRegistry: Sendable {
    private let streams = Mutex<[UInt64: C2SStreamHandle]>([:])
    private let nextID = Atomic<UInt64>(UInt64.random(in: 1 ... 1 << 40))

    func newStreamID() -> UInt64 { nextID.wrappingAdd(1, ordering: .relaxed).oldValue }

    func add(_ handle: C2SStreamHandle) { streams.withLock { $0[handle.stream] = handle } }

    func remove(_ stream: UInt64) { _ = streams.withLock { $0.removeValue(forKey: stream) } }

    func handle(_ stream: UInt64) -> C2SStreamHandle? { streams.withLock { $0[stream] } }

    var count: Int { streams.withLock { $0.count } }
}
