import NIOCore

/// Conveniences over ``XMLStreamParser/feed(_:into:)`` for the buffer types callers hold.
extension XMLStreamParser {
    /// Parses the readable bytes of `buffer` (without consuming them), appending the events they
    /// complete to `events`, also when it throws (like the raw-buffer variant).
    public func feed(_ buffer: ByteBuffer, into events: inout [XMLStreamEvent]) throws(XMLStreamError) {
        var result: XMLStreamError?
        buffer.withUnsafeReadableBytes { raw in
            do throws(XMLStreamError) { try self.feed(raw, into: &events) } catch { result = error }
        }
        if let result { throw result }
    }

    /// Parses `bytes` and returns the events they complete. Events completed before an error
    /// are lost with the throw; use the `into:` variants where they matter.
    public func feed(_ bytes: UnsafeRawBufferPointer) throws(XMLStreamError) -> [XMLStreamEvent] {
        var events: [XMLStreamEvent] = []
        try feed(bytes, into: &events)
        return events
    }

    /// Parses `bytes` and returns the events they complete.
    public func feed(_ bytes: [UInt8]) throws(XMLStreamError) -> [XMLStreamEvent] {
        var events: [XMLStreamEvent] = []
        var result: XMLStreamError?
        bytes.withUnsafeBytes { raw in
            do throws(XMLStreamError) { try self.feed(raw, into: &events) } catch { result = error }
        }
        if let result { throw result }
        return events
    }

    /// Parses the readable bytes of `buffer` (without consuming them) and returns the events
    /// they complete.
    public func feed(_ buffer: ByteBuffer) throws(XMLStreamError) -> [XMLStreamEvent] {
        var events: [XMLStreamEvent] = []
        try feed(buffer, into: &events)
        return events
    }
}
