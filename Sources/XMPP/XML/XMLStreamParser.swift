internal import CExpat
import NIOCore

/// The incremental, namespace-aware parser for one XMPP stream (RFC 6120 §4), built on expat.
///
/// Feed it bytes as they arrive from the socket, in chunks of any size split anywhere (inside
/// tags, inside multi-byte UTF-8 characters); it returns the ``XMLStreamEvent``s completed by
/// those bytes: the stream header, each first-level element with its subtree, the stream close.
/// The same input yields the same events however it is split.
///
/// It enforces restricted XML (RFC 6120 §11.1: no DTD, comments, processing instructions or
/// entity references beyond the five predefined ones and character references — so entity
/// expansion attacks and external entities cannot happen), UTF-8 only (§11.6), the stream
/// namespace (§4.8.1) and the ``XMLStreamLimits``. Any violation throws an ``XMLStreamError``
/// whose condition is the stream error to send; from then on the parser is failed for good.
///
/// Not thread-safe, by design: one parser belongs to one connection and is used from its event
/// loop only.
public final class XMLStreamParser {
    public let limits: XMLStreamLimits
    /// Default namespaces the stream header may declare for its content (`nil`: any except the
    /// stream namespace itself).
    public let acceptedContentNamespaces: Set<String>?

    /// The header of the current stream, once read.
    public private(set) var streamHeader: XMLElement?
    /// The default namespace declared on the stream header (`jabber:client` for a client
    /// stream), which first-level elements without their own `xmlns` are in. `nil` if the peer
    /// declared none (RFC 6120 §4.8.2 allows qualifying every element explicitly instead).
    public private(set) var streamContentNamespace: String?
    /// Every namespace declaration on the stream header, by prefix (`""` for the default one),
    /// e.g. `["": "jabber:server", "stream": "http://etherx.jabber.org/streams", "db": "jabber:server:dialback"]`.
    public private(set) var streamNamespaceDeclarations: [String: String] = [:]
    /// Whether `</stream:stream>` has been read.
    public private(set) var isStreamClosed = false
    /// The error that failed the parser, if any; every later ``feed(_:into:)`` rethrows it.
    public private(set) var failure: XMLStreamError?

    /// The expat parser; nil while hibernating (see ``hibernate()``).
    private var expat: XML_Parser?
    /// The expat parser of a parser that is not hibernating (callbacks only run inside
    /// `XML_Parse`, so it is never nil there).
    var parser: XML_Parser { expat! }
    /// Set while the stream header is replayed into a fresh expat parser on waking.
    private var replayingHeader = false
    /// Input is handed to expat in slices of at most this size so that the limits are checked,
    /// and expat's buffer stays bounded, even when a caller passes a huge buffer.
    private static let sliceSize = 16 * 1024

    // Per-document state, cleared by `reset()`.
    /// Open elements below the stream element; index 0 is the first-level element being built.
    private var stack: [XMLElement] = []
    /// Number of open elements, the stream element included.
    private var openElements = 0
    /// Character data not yet attached to the innermost open element; kept as bytes so that
    /// expat's fragments are joined before decoding.
    private var pendingText: [UInt8] = []
    private var namespaceDeclarationsOnNextElement = 0
    /// Non-whitespace character data was read between first-level elements.
    private var hasStreamLevelText = false
    private var documentBytes = 0
    private var firstByte: UInt8 = 0
    /// Byte offset (in the document) of the `<` of the first-level element being built, or nil.
    private var stanzaStart: Int?
    /// Byte offset just past the last token expat reported; bytes after it are buffered inside
    /// expat as an incomplete token.
    private var lastTokenEnd = 0
    private var events: [XMLStreamEvent] = []

    /// - Parameters:
    ///   - limits: resource bounds for this connection.
    ///   - acceptedContentNamespaces: the default namespaces the stream header may declare;
    ///     anything else fails with `<invalid-namespace/>` (RFC 6120 §4.9.3.10). Pass
    ///     `[XMLNamespace.jabberClient]` on a client listener; `nil` accepts any namespace but
    ///     the stream namespace.
    public init(
        limits: XMLStreamLimits = .default,
        acceptedContentNamespaces: Set<String>? = [XMLNamespace.jabberClient, XMLNamespace.jabberServer]
    ) {
        self.limits = limits
        self.acceptedContentNamespaces = acceptedContentNamespaces
        createExpat()
    }

    deinit {
        if let expat { XML_ParserFree(expat) }
    }

    private func createExpat() {
        guard let parser = XML_ParserCreateNS("UTF-8", ExpatHandlers.namespaceSeparator) else {
            fatalError("XML_ParserCreateNS failed: out of memory")
        }
        expat = parser
        ExpatHandlers.install(on: self)
    }

    // MARK: Hibernation

    /// Whether the expat parser is released (see ``hibernate()``).
    public var isHibernating: Bool { expat == nil }

    /// Releases the expat parser (some 10 KiB: its buffers, pools and hash tables) between
    /// stanzas of an idle stream. Only possible at rest: inside the stream, no element open, no
    /// bytes buffered, and the stream element's prefix known. The next ``feed(_:into:)`` builds
    /// a fresh expat parser and replays the stream header's namespace declarations into it
    /// (without reporting the header again), so parsing continues as if nothing happened.
    /// Returns whether the parser now hibernates.
    @discardableResult
    public func hibernate() -> Bool {
        guard expat != nil, failure == nil, streamHeader != nil, !isStreamClosed, openElements == 1, stack.isEmpty,
              pendingText.isEmpty, !hasStreamLevelText, lastTokenEnd == documentBytes, streamElementPrefix != nil else { return false }
        XML_ParserFree(expat!)
        expat = nil
        events = []
        return true
    }

    /// The prefix the stream element was written with: the one prefix bound to the streams
    /// namespace on the header (nil when there is none, or more than one).
    private var streamElementPrefix: String? {
        let prefixes = streamNamespaceDeclarations.filter { $0.value == XMLNamespace.streams && !$0.key.isEmpty }.map(\.key)
        return prefixes.count == 1 ? prefixes[0] : nil
    }

    /// A fresh expat parser, fed the stream header again (its namespace declarations only).
    private func wake() {
        var header = ByteBuffer()
        header.writeString("<\(streamElementPrefix!):stream")
        for (declared, uri) in streamNamespaceDeclarations.sorted(by: { $0.key < $1.key }) {
            header.writeString(declared.isEmpty ? " xmlns='" : " xmlns:\(declared)='")
            XMLEscaping.write(uri, into: &header, inAttribute: true)
            header.writeString("'")
        }
        header.writeString(">")
        createExpat()
        let savedHeader = streamHeader
        openElements = 0  // the replayed header opens the stream element again
        replayingHeader = true
        let status = header.withUnsafeReadableBytes { XML_Parse(parser, $0.baseAddress!.assumingMemoryBound(to: CChar.self), Int32($0.count), 0) }
        replayingHeader = false
        streamHeader = savedHeader
        events = []
        if status != XML_STATUS_OK, failure == nil {
            failure = XMLStreamError(.internalServerError, "the stream header could not be restored after idling")
        }
        documentBytes = header.readableBytes
        lastTokenEnd = documentBytes
    }

    /// Starts a new document on the same connection, as RFC 6120 requires after STARTTLS
    /// (§5.4.3.3) and SASL success (§6.4.6): the next bytes must begin with a new stream header.
    /// Bytes already fed but not yet parsed are discarded. A failed parser stays failed: a stream
    /// error ends the connection.
    public func reset() {
        if let expat {
            XML_ParserReset(expat, "UTF-8")
            ExpatHandlers.install(on: self)
        } else {
            createExpat()
        }
        streamHeader = nil
        streamContentNamespace = nil
        streamNamespaceDeclarations = [:]
        isStreamClosed = false
        stack = []
        openElements = 0
        pendingText = []
        namespaceDeclarationsOnNextElement = 0
        hasStreamLevelText = false
        documentBytes = 0
        stanzaStart = nil
        lastTokenEnd = 0
        events = []
    }

    // MARK: Feeding

    /// Parses `bytes`, appending the events they complete to `events`. If it throws, the events
    /// completed before the offending byte have still been appended.
    public func feed(_ bytes: UnsafeRawBufferPointer, into events: inout [XMLStreamEvent]) throws(XMLStreamError) {
        if let failure { throw failure }
        if expat == nil, !bytes.isEmpty {
            wake()
            if let failure { throw failure }
        }
        var offset = 0
        while offset < bytes.count {
            let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<min(offset + Self.sliceSize, bytes.count)])
            offset += slice.count
            checkEncodingSignature(slice)
            let status: XML_Status =
                if failure == nil {
                    XML_Parse(parser, slice.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(slice.count), 0)
                } else {
                    XML_STATUS_ERROR
                }
            documentBytes += slice.count
            events.append(contentsOf: self.events)
            self.events.removeAll(keepingCapacity: true)
            if status != XML_STATUS_OK, failure == nil { failure = expatFailure() }
            if failure == nil { checkBufferedInput() }
            if let failure { throw failure }
        }
    }

    // MARK: Checks outside expat's callbacks

    /// UTF-16 and UTF-32 documents start with a BOM or a NUL, or (little-endian, no BOM) with
    /// `<` or whitespace followed by a NUL; none of that can start UTF-8 XML, so name the real
    /// problem instead of "invalid token". The second-byte rule only applies after a first byte
    /// expat accepts on its own, so the verdict does not depend on where the input is split.
    private func checkEncodingSignature(_ slice: UnsafeRawBufferPointer) {
        guard documentBytes < 2, failure == nil else { return }
        for (index, byte) in slice.prefix(2 - documentBytes).enumerated() {
            let position = documentBytes + index
            if position == 0 {
                firstByte = byte
                if byte == 0x00 || byte == 0xFE || byte == 0xFF {
                    fail(.unsupportedEncoding, "only UTF-8 is supported (RFC 6120 §11.6)")
                }
            } else if byte == 0x00, [0x3C, 0x20, 0x09, 0x0A, 0x0D].contains(firstByte) {
                fail(.unsupportedEncoding, "only UTF-8 is supported (RFC 6120 §11.6)")
            }
        }
    }

    /// Bounds what expat holds without having reported it: an unfinished stream header, an
    /// unfinished first-level element, an unfinished tag. Together with the checks made in the
    /// callbacks this gives the same verdict however the input is split.
    private func checkBufferedInput() {
        if streamHeader == nil {
            if documentBytes > limits.maxStreamHeaderBytes {
                fail(.policyViolation, "stream header exceeds \(limits.maxStreamHeaderBytes) bytes")
            }
            return
        }
        if let stanzaStart, documentBytes - stanzaStart > limits.maxStanzaBytes {
            fail(.policyViolation, "stanza exceeds \(limits.maxStanzaBytes) bytes")
        } else if !isStreamClosed, documentBytes - lastTokenEnd > limits.maxTagBytes {
            fail(.policyViolation, "tag exceeds \(limits.maxTagBytes) bytes")
        }
    }

    /// Records the first failure and stops expat (when called from one of its callbacks).
    func fail(_ condition: StreamErrorCondition, _ text: String) {
        if failure == nil { failure = XMLStreamError(condition, text) }
        XML_StopParser(parser, 0)
    }

    private func expatFailure() -> XMLStreamError {
        let code = XML_GetErrorCode(parser)
        let message = XML_ErrorString(code).map { String(cString: $0) } ?? "error \(code.rawValue)"
        let text = "\(message) at line \(XML_GetCurrentLineNumber(parser)), column \(XML_GetCurrentColumnNumber(parser))"
        return XMLStreamError(ExpatHandlers.condition(for: code), text)
    }

    // MARK: Callbacks (called by ExpatHandlers while XML_Parse runs)

    /// Offset just past the token expat is reporting, with its length.
    private func currentToken() -> (start: Int, end: Int) {
        let start = Int(XML_GetCurrentByteIndex(parser))
        return (start, start + Int(XML_GetCurrentByteCount(parser)))
    }

    func didDeclareNamespace(prefix: String?, uri: String?) {
        namespaceDeclarationsOnNextElement += 1
        if namespaceDeclarationsOnNextElement > limits.maxAttributes {
            fail(.policyViolation, "more than \(limits.maxAttributes) namespace declarations on one element")
        } else if openElements == 0 {
            streamNamespaceDeclarations[prefix ?? ""] = uri ?? ""
        }
    }

    func didStartElement(_ name: ExpandedName, attributes: [XMLAttribute]) {
        let token = currentToken()
        lastTokenEnd = token.end
        namespaceDeclarationsOnNextElement = 0
        if openElements > limits.maxDepth {
            return fail(.policyViolation, "elements nested deeper than \(limits.maxDepth)")
        }
        if attributes.count > limits.maxAttributes {
            return fail(.policyViolation, "more than \(limits.maxAttributes) attributes on one element")
        }
        let element = XMLElement(name: name.local, namespace: name.namespace, attributes: attributes)
        if openElements == 0 {
            return didStartStream(element, headerEnd: token.end)
        }
        guard checkStreamLevelText() else { return }
        if token.end - token.start > limits.maxTagBytes {
            return fail(.policyViolation, "tag exceeds \(limits.maxTagBytes) bytes")
        }
        flushText()
        if openElements == 1 { stanzaStart = token.start }
        stack.append(element)
        openElements += 1
    }

    private func didStartStream(_ header: XMLElement, headerEnd: Int) {
        guard header.namespace == XMLNamespace.streams else {
            return fail(.invalidNamespace, "the stream element must be qualified by \(XMLNamespace.streams)")
        }
        guard header.name == "stream" else {
            return fail(.notWellFormed, "the first element must be <stream:stream>")
        }
        if headerEnd > limits.maxStreamHeaderBytes {
            return fail(.policyViolation, "stream header exceeds \(limits.maxStreamHeaderBytes) bytes")
        }
        let content = streamNamespaceDeclarations[""].flatMap { $0.isEmpty ? nil : $0 }
        if let content {
            let accepted = acceptedContentNamespaces?.contains(content) ?? (content != XMLNamespace.streams)
            guard accepted else { return fail(.invalidNamespace, "unsupported content namespace") }
        }
        streamContentNamespace = content
        streamHeader = header
        openElements = 1
        if !replayingHeader { events.append(.streamOpen(header)) }
    }

    func didEndElement() {
        let token = currentToken()
        lastTokenEnd = token.end
        guard checkStreamLevelText() else { return }
        if openElements == 1 {
            openElements = 0
            isStreamClosed = true
            events.append(.streamClose)
            return
        }
        if token.end - token.start > limits.maxTagBytes {
            return fail(.policyViolation, "tag exceeds \(limits.maxTagBytes) bytes")
        }
        flushText()
        openElements -= 1
        let element = stack.removeLast()
        if openElements > 1 {
            stack[stack.count - 1].children.append(.element(element))
            return
        }
        if let stanzaStart, token.end - stanzaStart > limits.maxStanzaBytes {
            return fail(.policyViolation, "stanza exceeds \(limits.maxStanzaBytes) bytes")
        }
        stanzaStart = nil
        events.append(.stanza(element))
    }

    func didReadCharacters(_ characters: UnsafeBufferPointer<UInt8>) {
        lastTokenEnd = currentToken().end
        if openElements > 1 {
            pendingText.append(contentsOf: characters)
            return
        }
        // Between first-level elements only whitespace (keepalives, RFC 6120 §4.6.1) belongs.
        // The verdict waits for the next tag: expat rejects a whole text run containing `]]>`
        // when it sees it at once but reports the part before it when the run is split, and
        // the error must not depend on how the input was split.
        if !hasStreamLevelText {
            hasStreamLevelText = characters.contains { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }
        }
    }

    private func checkStreamLevelText() -> Bool {
        if hasStreamLevelText { fail(.badFormat, "character data at stream level") }
        return !hasStreamLevelText
    }

    /// CDATA section markers are tokens too; their content arrives as characters.
    func didReadCDATAMarker() {
        lastTokenEnd = currentToken().end
    }

    func didReadXMLDeclaration(encoding: String?) {
        lastTokenEnd = currentToken().end
        if let encoding, encoding.lowercased() != "utf-8" {
            fail(.unsupportedEncoding, "only UTF-8 is supported (RFC 6120 §11.6)")
        }
    }

    private func flushText() {
        guard !pendingText.isEmpty else { return }
        let text = String(decoding: pendingText, as: UTF8.self)
        pendingText.removeAll(keepingCapacity: true)
        stack[stack.count - 1].children.append(.text(text))
    }
}

@available(*, unavailable, message: "one XMLStreamParser per connection, used from that connection's event loop")
extension XMLStreamParser: Sendable {}
