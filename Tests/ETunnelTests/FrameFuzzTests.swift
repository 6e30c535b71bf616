import ETunnel
import NIOCore
import Testing
import TestSupport

/// Seeded fuzzing of `readETunnelFrame`: random and mutated inputs never crash, never loop, and
/// every outcome matches a small model written from the protocol description. The loops yield
/// now and then and the suite is serialized, so they never hold every cooperative thread.
@Suite("Frame decoder fuzzing", .serialized)
struct FrameFuzzTests {
    static let maxFrameSize = 1024

    enum Outcome: Equatable {
        case needMore
        case frame(consumed: Int)
        case error(ETunnelError.Code)
    }

    /// The protocol description as a model: what one decode of `bytes` must do.
    static func model(_ bytes: ArraySlice<UInt8>, maxFrameSize: Int) -> Outcome {
        let b = Array(bytes)
        guard b.count >= 4 else { return .needMore }
        let length = Int(b[0]) << 24 | Int(b[1]) << 16 | Int(b[2]) << 8 | Int(b[3])
        if length < 16 { return .error(.protocolViolation) }
        if length + 4 > maxFrameSize { return .error(.frameTooLarge) }
        if b.count >= 5, b[4] != 1 { return .error(.unsupportedVersion) }
        if b.count >= 6, !(1...11).contains(b[5]) { return .error(.unknownFrameKind) }
        if b.count < 4 + length { return .needMore }
        if b[6] != 0 || b[7] != 0 { return .error(.protocolViolation) }
        return .frame(consumed: 4 + length)
    }

    struct Stats {
        var inputs = 0
        var frames = 0
        var needMore = 0
        var errors: [UInt16: Int] = [:]
    }

    /// Decodes `bytes` until nil or a throw, comparing every step with the model.
    static func run(_ bytes: [UInt8], stats: inout Stats) {
        stats.inputs += 1
        var buffer = ByteBuffer(bytes: bytes)
        // Each frame consumes at least 20 bytes, so more iterations than this is a loop.
        let limit = bytes.count / 20 + 2
        var iterations = 0
        while true {
            iterations += 1
            guard iterations <= limit else {
                Issue.record("decoder looped \(iterations) times on \(bytes.count) bytes")
                return
            }
            let offset = bytes.count - buffer.readableBytes
            let expected = model(bytes[offset...], maxFrameSize: maxFrameSize)
            do throws(ETunnelError) {
                guard let frame = try buffer.readETunnelFrame(maxFrameSize: maxFrameSize) else {
                    #expect(expected == .needMore, "input \(bytes) at \(offset)")
                    #expect(buffer.readableBytes == bytes.count - offset, "nil consumed nothing")
                    stats.needMore += 1
                    return
                }
                let consumed = (bytes.count - buffer.readableBytes) - offset
                #expect(expected == .frame(consumed: consumed), "input \(bytes) at \(offset)")
                #expect(consumed == 20 + frame.payload.readableBytes)
                #expect(frame.flags == 0)
                stats.frames += 1
            } catch {
                #expect(expected == .error(error.code), "input \(bytes) at \(offset): \(error)")
                #expect(!error.message.isEmpty)
                stats.errors[error.code.rawValue, default: 0] += 1
                return
            }
        }
    }

    @Test("20,000 random byte strings (0...512 bytes)")
    func randomBytes() async {
        var rng = SplitMix64(seed: 0xE7_0001)
        var stats = Stats()
        for n in 0..<20_000 {
            if n % 256 == 0 { await Task.yield() }
            let count = Int.random(in: 0...512, using: &rng)
            Self.run(rng.bytes(count), stats: &stats)
        }
        #expect(stats.inputs == 20_000)
        // Uniform bytes nearly always have a huge length: frameTooLarge dominates.
        #expect(stats.errors[ETunnelError.Code.frameTooLarge.rawValue, default: 0] > 15_000)
    }

    @Test("20,000 random strings behind a plausible header reach every decoder branch")
    func plausibleHeaders() async {
        var rng = SplitMix64(seed: 0xE7_0002)
        var stats = Stats()
        for n in 0..<20_000 {
            if n % 256 == 0 { await Task.yield() }
            let count = Int.random(in: 0...512, using: &rng)
            var bytes = rng.bytes(count)
            // Mostly-valid length/version/kind/flags so the later checks are reached too.
            if count >= 4 {
                let length = UInt32.random(in: 0...600, using: &rng)
                bytes[0] = 0; bytes[1] = 0
                bytes[2] = UInt8(length >> 8); bytes[3] = UInt8(length & 0xFF)
            }
            if count >= 5, Int.random(in: 0..<10, using: &rng) > 0 { bytes[4] = 1 }
            if count >= 6, Int.random(in: 0..<10, using: &rng) > 0 { bytes[5] = UInt8.random(in: 1...11, using: &rng) }
            if count >= 8, Int.random(in: 0..<10, using: &rng) > 0 { bytes[6] = 0; bytes[7] = 0 }
            Self.run(bytes, stats: &stats)
        }
        #expect(stats.frames > 1000)
        #expect(stats.needMore > 1000)
        for code in [ETunnelError.Code.protocolViolation, .unsupportedVersion, .unknownFrameKind] {
            #expect(stats.errors[code.rawValue, default: 0] > 100, "\(code) reached")
        }
    }

    @Test("20,000 valid frame streams with random bytes flipped")
    func mutatedFrames() async {
        var rng = SplitMix64(seed: 0xE7_0003)
        var stats = Stats()
        for n in 0..<20_000 {
            if n % 256 == 0 { await Task.yield() }
            var buffer = ByteBuffer()
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let kind = FrameKind.allCases[Int.random(in: 0..<FrameKind.allCases.count, using: &rng)]
                buffer.writeETunnelFrame(
                    kind: kind, correlationID: rng.next(), method: UInt32.random(in: 0...UInt32.max, using: &rng),
                    payload: ByteBuffer(bytes: rng.bytes(Int.random(in: 0...120, using: &rng))))
            }
            var bytes = Array(buffer.readableBytesView)
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let index = Int.random(in: 0..<bytes.count, using: &rng)
                bytes[index] ^= UInt8.random(in: 1...255, using: &rng)
            }
            // Sometimes truncate too.
            if Int.random(in: 0..<4, using: &rng) == 0 { bytes.removeLast(Int.random(in: 0..<bytes.count, using: &rng)) }
            Self.run(bytes, stats: &stats)
        }
        #expect(stats.inputs == 20_000)
        #expect(stats.frames > 5000, "mutations after the first frame leave it intact")
    }
}
