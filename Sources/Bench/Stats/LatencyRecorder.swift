import Histogram

/// An HdrHistogram of durations in microseconds, with the wire form used between generator
/// processes.
///
/// Microseconds, not nanoseconds: nothing in an XMPP round trip is meaningful below 1 µs, and
/// the coarser unit keeps each histogram (one per event loop per step) small. Values above an
/// hour are clamped rather than dropped, so an absurd outlier still shows up as the max.
public struct LatencyRecorder: Sendable {
    public static let highestTrackableMicros: UInt64 = 3_600_000_000
    public private(set) var histogram = Histogram<UInt64>(
        lowestDiscernibleValue: 1, highestTrackableValue: LatencyRecorder.highestTrackableMicros, numberOfSignificantValueDigits: .three)

    public init() {}

    public mutating func record(nanoseconds: UInt64) {
        histogram.record(min(Self.highestTrackableMicros, max(1, nanoseconds / 1000)))
    }

    public mutating func record(micros: UInt64, count: UInt64) {
        guard count > 0 else { return }
        histogram.record(min(Self.highestTrackableMicros, max(1, micros)), count: count)
    }

    public mutating func add(_ other: LatencyRecorder) {
        histogram.add(other.histogram)
    }

    public var count: UInt64 { histogram.totalCount }

    /// `[[micros, count], …]` for each non-empty bucket: a few hundred pairs for a typical run,
    /// and merging them back is exact at the histogram's precision.
    public var wire: HistogramWire {
        HistogramWire(buckets: histogram.recordedValues().map { [histogram.lowestEquivalentForValue($0.value), UInt64($0.count)] },
                      max: count > 0 ? histogram.maxRecorded : nil)
    }

    /// Rebuilds the histogram; the exact maximum is recorded as itself (in its bucket) so that
    /// percentiles clamped to the maximum come out the same as in the original.
    public init(wire: HistogramWire) {
        var maxPending = wire.max
        for pair in wire.buckets where pair.count == 2 {
            var count = pair[1]
            if let max = maxPending, count > 0, histogram.lowestEquivalentForValue(max) == pair[0] {
                record(micros: max, count: 1)
                count -= 1
                maxPending = nil
            }
            record(micros: pair[0], count: count)
        }
    }

    public var summary: LatencySummary {
        guard count > 0 else { return LatencySummary() }
        func ms(_ micros: UInt64) -> Double { (Double(micros) / 1000 * 1000).rounded() / 1000 }
        return LatencySummary(
            count: count,
            p50: ms(histogram.valueAtPercentile(50)), p90: ms(histogram.valueAtPercentile(90)),
            p99: ms(histogram.valueAtPercentile(99)), p999: ms(histogram.valueAtPercentile(99.9)),
            max: ms(histogram.maxRecorded), mean: (histogram.mean / 1000 * 1000).rounded() / 1000)
    }
}

/// A histogram as JSON: bucket values (µs) with their counts.
public struct HistogramWire: Sendable, Codable, Hashable {
    public var buckets: [[UInt64]]
    /// The exact largest value (a bucket only knows its range).
    public var max: UInt64?
    public init(buckets: [[UInt64]] = [], max: UInt64? = nil) {
        self.buckets = buckets
        self.max = max
    }
}

/// Percentiles in milliseconds, as reported.
public struct LatencySummary: Sendable, Codable, Hashable {
    public var count: UInt64 = 0
    public var p50: Double = 0
    public var p90: Double = 0
    public var p99: Double = 0
    public var p999: Double = 0
    public var max: Double = 0
    public var mean: Double = 0

    public init() {}

    public init(count: UInt64, p50: Double, p90: Double, p99: Double, p999: Double, max: Double, mean: Double) {
        self.count = count
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.p999 = p999
        self.max = max
        self.mean = mean
    }
}

/// Between processes a recorder travels as its bucket list.
extension LatencyRecorder: Codable {
    public init(from decoder: any Decoder) throws {
        self.init(wire: try HistogramWire(from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try wire.encode(to: encoder)
    }
}
