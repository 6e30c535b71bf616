import ETunnel
import NIOCore
import StanzaRouting
import Testing

// MARK: Helpers

/// Decodes `message`'s encoding (also with unknown trailing bytes, which a reader must ignore)
/// and checks every field came back and the reader stopped at the end of the message.
private func expectRoundTrip<M: ETunnelMessage & Equatable>(_ message: M, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let encoded = try message.encoded()
    do {
        var buffer = encoded
        let decoded = try M(from: &buffer)
        #expect(decoded == message, sourceLocation: sourceLocation)
        #expect(buffer.readableBytes == 0, "\(M.self) left \(buffer.readableBytes) bytes unread", sourceLocation: sourceLocation)

        var extended = encoded
        extended.writeBytes([0xFF, 0x00, 0x7F, 0x01])
        let decodedExtended = try M(from: &extended)
        #expect(decodedExtended == message, "trailing bytes must be ignored", sourceLocation: sourceLocation)
        #expect(extended.readableBytes == 4, sourceLocation: sourceLocation)

        // Encoding is deterministic and a decoded message encodes to the same bytes.
        #expect(try decoded.encoded() == encoded, sourceLocation: sourceLocation)
    } catch {
        Issue.record("\(M.self) did not decode its own encoding: \(error)", sourceLocation: sourceLocation)
    }
}

/// Every strict prefix of `message`'s encoding must fail with `badPayload` (and never trap),
/// except those that end exactly before `optionalTail` trailing bytes (fields a newer peer
/// appended, which an older one does not send).
private func expectTruncationsRejected<M: ETunnelMessage>(_ message: M, optionalTail: Int = 0, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let encoded = try message.encoded()
    var accepted: [Int] = []
    var wrongCode: [(Int, ETunnelError)] = []
    let count = encoded.readableBytes
    // Every prefix of small encodings; for big ones (300 KB stanzas, 64 KB strings, which each
    // prefix would re-read) the first and last KB and a sparse sample in between.
    let lengths: [Int] = count <= 8192
        ? Array(0..<count)
        : Array(0..<1024) + Array(stride(from: 1024, to: count - 1024, by: 1021)) + Array((count - 1024)..<count)
    for length in lengths where length < count - optionalTail {
        var prefix = encoded.getSlice(at: encoded.readerIndex, length: length)!
        do {
            _ = try M(from: &prefix)
            accepted.append(length)
        } catch {
            if error.code != .badPayload { wrongCode.append((length, error)) }
        }
    }
    #expect(accepted.isEmpty, "\(M.self): prefixes of \(accepted.prefix(10)) of \(encoded.readableBytes) bytes decoded", sourceLocation: sourceLocation)
    #expect(wrongCode.isEmpty, "\(M.self): wrong error codes \(wrongCode.prefix(5))", sourceLocation: sourceLocation)
}

private func expectBadPayload<M: ETunnelMessage>(_ type: M.Type, _ bytes: ByteBuffer, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    var buffer = bytes
    do {
        let decoded = try M(from: &buffer)
        Issue.record("\(M.self) accepted bad bytes (\(comment.map { "\($0)" } ?? "")): \(decoded)", sourceLocation: sourceLocation)
    } catch {
        #expect(error.code == .badPayload, comment, sourceLocation: sourceLocation)
    }
}

private func bytes(_ count: Int, seed: UInt8 = 0) -> ByteBuffer {
    var buffer = ByteBufferAllocator().buffer(capacity: count)
    for index in 0..<count { buffer.writeInteger(UInt8(truncatingIfNeeded: index &* 131 &+ Int(seed))) }
    return buffer
}

private let bigStanza: ByteBuffer = {
    // 300 KB of XML-ish text with multi-byte characters.
    let unit = "<body>héllo wörld 🚀 &amp; ‮ 中文</body>"
    var text = "<message to='b@x' type='chat'>"
    while text.utf8.count < 300 * 1024 { text += unit }
    text += "</message>"
    return ByteBuffer(string: text)
}()

private let unicode = "ünïcødé 中文 🏳️‍🌈 \u{0}\u{FEFF}"
private let longest = String(repeating: "é", count: 32_767) + "x"  // 65 535 UTF-8 bytes, the u16 limit.

private let addresses = [
    SessionAddress(frontend: "", stream: 0),
    SessionAddress(frontend: "fe-1", stream: 1),
    SessionAddress(frontend: "front-end ✨", stream: .max),
]

// MARK: Samples of every message

/// One sample of every message (and of every variant of it). `long` is the longest string in
/// them and `groups`/`credentials` the sizes of the big lists: the u16 maximum, 1000 and 255 for round trips,
/// smaller for the truncation sweep (every prefix re-decodes the fields before the cut, so long
/// strings and lists make it quadratic, and slow in debug builds).
private struct Samples {
    var devices: [DeviceRecord]
    var devicePuts: [DevicePut]
    var jids: [JIDMessage]
    var deviceLists: [DeviceList]
    var credentials: [CredentialsAnswer]
    var sessionOpens: [SessionOpen]
    var sessionRefs: [SessionRef]
    var stanzas: [RoutedStanza] = []
    var presenceUpdates: [PresenceUpdate]
    var deliveries: [Delivery]
    var kills: [SessionKill]
    var probes: [PresenceProbe]
    var rosterItems: [RosterItem]
    var rosterLists: [RosterItems]
    var rosterSets: [RosterSet]

    init(long: String, groups: Int, credentials manyCredentials: Int) throws {
        devices = [
            DeviceRecord(bareJID: "", createdMillis: 0, credentials: []),
            DeviceRecord(bareJID: "a@example.com", imei: "356938035643809", imsi: "208150123456789", operatorName: "Orange",
                         profile: "m2m", enabled: true, createdMillis: 1_700_000_000_000, credentials: [bytes(32), bytes(64, seed: 9)]),
            DeviceRecord(bareJID: unicode, imei: "", imsi: "", operatorName: unicode, profile: "", enabled: false,
                         createdMillis: .max, credentials: [ByteBuffer()]),
            DeviceRecord(bareJID: long, imei: nil, imsi: "x", operatorName: nil, profile: long, enabled: true,
                         createdMillis: 1, credentials: (0..<manyCredentials).map { bytes($0, seed: UInt8($0)) }),
            DeviceRecord(bareJID: "big@x", createdMillis: 2, credentials: [bigStanza]),
        ]
        devicePuts = devices.flatMap { [DevicePut(mode: .create, device: $0), DevicePut(mode: .update, device: $0)] }
        jids = [JIDMessage(jid: ""), JIDMessage(jid: "a@example.com"), JIDMessage(jid: unicode), JIDMessage(jid: long)]
        deviceLists = [DeviceList(devices: []), DeviceList(devices: devices)]
        credentials = [
            CredentialsAnswer(status: .enabled, credentials: [bytes(40), bytes(72)]),
            CredentialsAnswer(status: .disabled, credentials: []),
            CredentialsAnswer(status: .unknown, credentials: [ByteBuffer(), bigStanza]),
        ]
        sessionOpens = addresses.flatMap { address in
            [nil, "", "phone", unicode, long].map { SessionOpen(bareJID: "a@example.com", resource: $0, address: address) }
        } + [SessionOpen(bareJID: "", resource: nil, address: addresses[0])]
        sessionRefs = addresses.flatMap { address in
            ["", "phone", unicode].map { SessionRef(bareJID: unicode, resource: $0, address: address) }
        }
        for kind in [RoutedStanza.Kind.message, .presence, .iq] {
            stanzas.append(RoutedStanza(kind: kind, type: nil, to: "", from: "", id: nil, sender: nil, stanza: ByteBuffer()))
            stanzas.append(RoutedStanza(kind: kind, type: "chat", to: "b@x/r", from: "a@x/r", id: "id-1", sender: addresses[1], stanza: ByteBuffer(string: "<message/>")))
            stanzas.append(RoutedStanza(kind: kind, type: "", to: unicode, from: long, id: "", sender: addresses[0], stanza: bigStanza))
            stanzas.append(RoutedStanza(kind: kind, type: unicode, to: "b@x", from: "a@x", id: unicode, sender: addresses[2], stanza: bytes(1000)))
        }
        let stanzas = stanzas
        let sessionRefs = sessionRefs
        presenceUpdates = [Int8.min, -1, 0, 1, Int8.max].flatMap { priority in
            [stanzas[0], stanzas[2], stanzas[7]].map {
                PresenceUpdate(session: sessionRefs[priority == 0 ? 0 : 4], stanza: $0, priority: priority)
            }
        }
        deliveries = [
            Delivery(stream: 0, action: .stanza, payload: ByteBuffer()),
            Delivery(stream: .max, action: .stanza, condition: nil, delayMillis: .max, payload: bigStanza),
            Delivery(stream: 7, action: .bounce, condition: "service-unavailable", payload: ByteBuffer(string: "<iq type='get'/>")),
            Delivery(stream: 8, action: .bounce, condition: "", delayMillis: 1, payload: bytes(10)),
            Delivery(stream: 9, action: .rosterPush, condition: unicode, payload: try RosterItem(jid: "b@x", subscription: .both).encoded()),
        ]
        kills = [
            SessionKill(stream: 0, condition: "", text: ""),
            SessionKill(stream: .max, condition: "conflict", text: "replaced by a new session of the same resource"),
            SessionKill(stream: 3, condition: unicode, text: long),
        ]
        probes = addresses.map { PresenceProbe(contact: "b@x", subscriber: "a@x/phone", address: $0) }
            + [PresenceProbe(contact: "", subscriber: "", address: addresses[0]),
               PresenceProbe(contact: unicode, subscriber: long, address: addresses[2])]
        rosterItems = RosterItem.Subscription.allCases.flatMap { subscription in
            [(false, false), (true, false), (false, true), (true, true)].map { ask, pending in
                RosterItem(jid: "b@x", name: ask ? nil : "Bob", subscription: subscription, askSubscribe: ask, pendingIn: pending,
                           groups: pending ? [] : ["Friends", "", unicode])
            }
        } + [
            RosterItem(jid: "", name: "", groups: [""]),
            RosterItem(jid: unicode, name: long, groups: (0..<groups).map { "group \($0)" }),
        ]
        rosterLists = [RosterItems(items: []), RosterItems(items: rosterItems)]
        rosterSets = rosterItems.map { RosterSet(owner: "a@x", item: $0) } + [RosterSet(owner: "", item: RosterItem(jid: ""))]
    }

    /// With the u16 maximum.
    static let full = try! Samples(long: longest, groups: 1000, credentials: 255)
    /// For the truncation sweep.
    static let short = try! Samples(long: String(repeating: "é", count: 100) + "x", groups: 30, credentials: 16)
}

// MARK: Tests

@Suite struct StanzaRoutingCodecTests {
    @Test func roundTrips() throws {
        try Samples.full.devices.forEach { try expectRoundTrip($0) }
        try Samples.full.devicePuts.forEach { try expectRoundTrip($0) }
        try Samples.full.jids.forEach { try expectRoundTrip($0) }
        try Samples.full.deviceLists.forEach { try expectRoundTrip($0) }
        try Samples.full.credentials.forEach { try expectRoundTrip($0) }
        try Samples.full.sessionOpens.forEach { try expectRoundTrip($0) }
        try Samples.full.sessionRefs.forEach { try expectRoundTrip($0) }
        try Samples.full.stanzas.forEach { try expectRoundTrip($0) }
        try Samples.full.presenceUpdates.forEach { try expectRoundTrip($0) }
        try Samples.full.deliveries.forEach { try expectRoundTrip($0) }
        try Samples.full.kills.forEach { try expectRoundTrip($0) }
        try Samples.full.probes.forEach { try expectRoundTrip($0) }
        try Samples.full.rosterItems.forEach { try expectRoundTrip($0) }
        try Samples.full.rosterLists.forEach { try expectRoundTrip($0) }
        try Samples.full.rosterSets.forEach { try expectRoundTrip($0) }
    }

    @Test func optionalFieldsAreDistinguishedFromEmpty() throws {
        let absent = try SessionOpen.decode(SessionOpen(bareJID: "a", resource: nil, address: addresses[1]).encoded())
        let empty = try SessionOpen.decode(SessionOpen(bareJID: "a", resource: "", address: addresses[1]).encoded())
        #expect(absent.resource == nil)
        #expect(empty.resource == "")

        let stanza = try RoutedStanza.decode(RoutedStanza(kind: .message, type: "", to: "b", from: "a", id: nil, sender: nil, stanza: ByteBuffer()).encoded())
        #expect(stanza.type == "")
        #expect(stanza.id == nil)
        #expect(stanza.sender == nil)

        let device = try DeviceRecord.decode(DeviceRecord(bareJID: "a", imei: "", imsi: nil, createdMillis: 0, credentials: []).encoded())
        #expect(device.imei == "")
        #expect(device.imsi == nil)
    }

    @Test func bigStanzasSurviveByteForByte() throws {
        #expect(bigStanza.readableBytes >= 300 * 1024)
        let routed = RoutedStanza(kind: .message, type: "chat", to: "b@x", from: "a@x/r", id: "1", sender: addresses[1], stanza: bigStanza)
        let decoded = try RoutedStanza.decode(routed.encoded())
        #expect(decoded.stanza.readableBytes == bigStanza.readableBytes)
        #expect(decoded.stanza.readableBytesView.elementsEqual(bigStanza.readableBytesView))

        // A stanza slice that does not start at index 0 of its storage is encoded from its reader index.
        var backing = ByteBuffer(string: "garbage-before")
        backing.writeImmutableBuffer(bigStanza)
        backing.moveReaderIndex(forwardBy: "garbage-before".utf8.count)
        let sliced = try RoutedStanza.decode(RoutedStanza(kind: .message, type: nil, to: "b", from: "a", id: nil, sender: nil, stanza: backing).encoded())
        #expect(sliced.stanza == bigStanza)

        let delivery = try Delivery.decode(Delivery(stream: 1, action: .stanza, payload: backing).encoded())
        #expect(delivery.payload == bigStanza)
    }

    @Test func truncationsAreRejected() throws {
        try Samples.short.devices.forEach { try expectTruncationsRejected($0) }
        try Samples.short.devicePuts.forEach { try expectTruncationsRejected($0) }
        try Samples.short.jids.forEach { try expectTruncationsRejected($0) }
        try Samples.short.deviceLists.forEach { try expectTruncationsRejected($0) }
        try Samples.short.credentials.forEach { try expectTruncationsRejected($0) }
        try Samples.short.sessionOpens.forEach { try expectTruncationsRejected($0) }
        try Samples.short.sessionRefs.forEach { try expectTruncationsRejected($0) }
        // The carbons flag is a trailing field: without it a stanza is still whole (not eligible).
        try Samples.short.stanzas.forEach { try expectTruncationsRejected($0, optionalTail: 1) }
        try Samples.short.presenceUpdates.forEach { try expectTruncationsRejected($0, optionalTail: 1) }
        try Samples.short.deliveries.forEach { try expectTruncationsRejected($0) }
        try Samples.short.kills.forEach { try expectTruncationsRejected($0) }
        try Samples.short.probes.forEach { try expectTruncationsRejected($0) }
        try Samples.short.rosterItems.forEach { try expectTruncationsRejected($0) }
        try Samples.short.rosterLists.forEach { try expectTruncationsRejected($0) }
        try Samples.short.rosterSets.forEach { try expectTruncationsRejected($0) }
    }

    /// The sweep above uses shorter strings; messages with 64 KB strings are cut at a few places.
    @Test func truncationsOfMaximumLengthStrings() throws {
        func check<M: ETunnelMessage>(_ message: M, optionalTail: Int = 0, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let encoded = try message.encoded()
            let count = encoded.readableBytes
            for length in [0, 1, 2, 100, count / 2, count - 1 - optionalTail] where length < count {
                expectBadPayload(M.self, encoded.getSlice(at: encoded.readerIndex, length: length)!, "\(length) of \(count)", sourceLocation: sourceLocation)
            }
        }
        #expect(longest.utf8.count == Int(UInt16.max))
        try check(JIDMessage(jid: longest))
        try check(SessionKill(stream: 1, condition: longest, text: longest))
        try check(RoutedStanza(kind: .message, type: nil, to: "b@x", from: longest, id: nil, sender: addresses[1], stanza: bigStanza), optionalTail: 1)
        try check(RosterItem(jid: "b@x", name: longest, groups: [longest]))
    }

    // MARK: Unknown enum values

    @Test(arguments: [UInt8(0), 4, 0x7F, 0xFF])
    func unknownStanzaKind(raw: UInt8) throws {
        var encoded = try Samples.full.stanzas[1].encoded()
        encoded.setInteger(raw, at: encoded.readerIndex)
        expectBadPayload(RoutedStanza.self, encoded, "kind \(raw)")

        // The same inside a presence update (after the session and the priority).
        let update = PresenceUpdate(session: Samples.full.sessionRefs[1], stanza: Samples.full.stanzas[1], priority: 0)
        var encodedUpdate = try update.encoded()
        let offset = try update.session.encoded().readableBytes + 1
        #expect(encodedUpdate.getInteger(at: offset, as: UInt8.self) == RoutedStanza.Kind.message.rawValue)
        encodedUpdate.setInteger(raw, at: offset)
        expectBadPayload(PresenceUpdate.self, encodedUpdate, "kind \(raw)")
    }

    @Test(arguments: [UInt8(0), 5, 0xFF])
    func unknownDeliveryAction(raw: UInt8) throws {
        var encoded = try Samples.full.deliveries[2].encoded()
        #expect(encoded.getInteger(at: 8, as: UInt8.self) == Delivery.Action.bounce.rawValue)
        encoded.setInteger(raw, at: 8)
        expectBadPayload(Delivery.self, encoded, "action \(raw)")
    }

    @Test(arguments: [UInt8(0), 3, 0xFF])
    func unknownDevicePutMode(raw: UInt8) throws {
        var encoded = try Samples.full.devicePuts[2].encoded()
        encoded.setInteger(raw, at: 0)
        expectBadPayload(DevicePut.self, encoded, "mode \(raw)")
    }

    @Test(arguments: [UInt8(0), 4, 0xFF])
    func unknownCredentialsStatus(raw: UInt8) throws {
        var encoded = try Samples.full.credentials[0].encoded()
        encoded.setInteger(raw, at: 0)
        expectBadPayload(CredentialsAnswer.self, encoded, "status \(raw)")
    }

    @Test(arguments: ["", "Both", "NONE", "remove ", "subscribe", "both\u{0}", "tо"])  // the last has a Cyrillic "о"
    func unknownRosterSubscription(raw: String) throws {
        var buffer = ByteBuffer()
        try buffer.writeShortString("b@x")
        buffer.writeInteger(UInt8(0))  // no name
        try buffer.writeShortString(raw)
        buffer.writeInteger(UInt8(0))  // flags
        buffer.writeInteger(UInt16(0))  // no groups
        expectBadPayload(RosterItem.self, buffer, "subscription \(raw)")

        var set = ByteBuffer()
        try set.writeShortString("a@x")
        set.writeImmutableBuffer(buffer)
        expectBadPayload(RosterSet.self, set, "subscription \(raw)")

        var list = ByteBuffer()
        list.writeInteger(UInt32(2))
        list.writeImmutableBuffer(try RosterItem(jid: "c@x").encoded())
        list.writeImmutableBuffer(buffer)
        expectBadPayload(RosterItems.self, list, "subscription \(raw)")
    }

    @Test func everySubscriptionValueHasAStableSpelling() throws {
        #expect(RosterItem.Subscription.allCases.map(\.rawValue) == ["none", "to", "from", "both", "remove"])
    }

    @Test func rosterFlagsIgnoreUnknownBits() throws {
        var encoded = try RosterItem(jid: "b@x", askSubscribe: true).encoded()
        let flagsOffset = 2 + 3 + 1 + 2 + 4  // jid, absent name, "none"
        #expect(encoded.getInteger(at: flagsOffset, as: UInt8.self) == 1)
        encoded.setInteger(UInt8(0xFC), at: flagsOffset)
        let decoded = try RosterItem.decode(encoded)
        #expect(!decoded.askSubscribe && !decoded.pendingIn)
    }

    @Test func anyNonZeroSenderFlagMeansPresent() throws {
        let stanza = RoutedStanza(kind: .iq, type: "get", to: "b", from: "a", id: "1", sender: addresses[1], stanza: ByteBuffer(string: "<iq/>"))
        var encoded = try stanza.encoded()
        let flagOffset = 1 + (1 + 2 + 3) + (2 + 1) + (2 + 1) + (1 + 2 + 1)
        #expect(encoded.getInteger(at: flagOffset, as: UInt8.self) == 1)
        encoded.setInteger(UInt8(0xFF), at: flagOffset)
        #expect(try RoutedStanza.decode(encoded) == stanza)
    }

    // MARK: Malformed lengths and text

    @Test func invalidUTF8IsRejected() throws {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt16(3))
        buffer.writeBytes([0x61, 0xFF, 0x62])
        expectBadPayload(JIDMessage.self, buffer, "0xFF")

        var overlong = ByteBuffer()
        overlong.writeInteger(UInt16(2))
        overlong.writeBytes([0xC0, 0xAF])  // overlong "/"
        expectBadPayload(JIDMessage.self, overlong, "overlong")

        var cut = ByteBuffer()
        cut.writeInteger(UInt16(2))
        cut.writeBytes(Array("é".utf8)[..<1] + [0x41])  // a lone lead byte
        expectBadPayload(JIDMessage.self, cut, "lone lead byte")

        var surrogate = ByteBuffer()
        surrogate.writeInteger(UInt16(3))
        surrogate.writeBytes([0xED, 0xA0, 0x80])  // U+D800 encoded
        expectBadPayload(JIDMessage.self, surrogate, "surrogate")
    }

    @Test func announcedLengthsBeyondThePayloadAreRejected() throws {
        // A stanza announcing 4 GiB.
        var encoded = try RoutedStanza(kind: .message, type: nil, to: "b", from: "a", id: nil, sender: nil, stanza: ByteBuffer(string: "<m/>")).encoded()
        encoded.setInteger(UInt32.max, at: encoded.writerIndex - 4 - 4)
        expectBadPayload(RoutedStanza.self, encoded, "u32 length")

        // A device list announcing more devices than present.
        var list = try DeviceList(devices: [Samples.full.devices[1]]).encoded()
        list.setInteger(UInt32(2), at: 0)
        expectBadPayload(DeviceList.self, list, "count")
        list.setInteger(UInt32.max, at: 0)
        expectBadPayload(DeviceList.self, list, "huge count")

        var items = try RosterItems(items: [RosterItem(jid: "b")]).encoded()
        items.setInteger(UInt32.max, at: 0)
        expectBadPayload(RosterItems.self, items, "huge count")

        var credentials = try CredentialsAnswer(status: .enabled, credentials: [bytes(4)]).encoded()
        credentials.setInteger(UInt8(200), at: 1)
        expectBadPayload(CredentialsAnswer.self, credentials, "count")

        var short = ByteBuffer()
        short.writeInteger(UInt16.max)
        short.writeString("abc")
        expectBadPayload(JIDMessage.self, short, "u16 length")
    }

    @Test func randomBytesNeverTrap() throws {
        var generator = SplitMix64(seed: 0x5EED)
        var wrongCodes: [String] = []
        for round in 0..<3_000 {
            let length = Int(generator.next() % 96)
            var buffer = ByteBuffer()
            for _ in 0..<length { buffer.writeInteger(UInt8(truncatingIfNeeded: generator.next())) }
            // Decoding either succeeds or fails with badPayload; it must never crash.
            for (index, decode) in decoders.enumerated() {
                do { try decode(buffer) } catch {
                    if (error as? ETunnelError)?.code != .badPayload { wrongCodes.append("round \(round) decoder \(index): \(error)") }
                }
            }
        }
        #expect(wrongCodes.isEmpty, "\(wrongCodes.prefix(5))")
    }
}

private let decoders: [@Sendable (ByteBuffer) throws -> Void] = [
    { _ = try DeviceRecord.decode($0) }, { _ = try DevicePut.decode($0) }, { _ = try JIDMessage.decode($0) },
    { _ = try DeviceList.decode($0) }, { _ = try CredentialsAnswer.decode($0) }, { _ = try SessionOpen.decode($0) },
    { _ = try SessionRef.decode($0) }, { _ = try RoutedStanza.decode($0) }, { _ = try PresenceUpdate.decode($0) },
    { _ = try Delivery.decode($0) }, { _ = try SessionKill.decode($0) }, { _ = try PresenceProbe.decode($0) },
    { _ = try RosterItem.decode($0) }, { _ = try RosterItems.decode($0) }, { _ = try RosterSet.decode($0) },
]

private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_64D8_49EB_111B
        return z ^ (z >> 31)
    }
}
