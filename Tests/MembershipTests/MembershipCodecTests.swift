import ETunnel
import NIOCore
import Testing
@testable import Membership
import MMGSShared

/// Wire codecs of the membership service: round trips, the documented layout, and malformed
/// payloads (truncated, bad enums, bad UTF-8, random bytes) that must throw `.badPayload` and
/// never crash.
@Suite("Membership codecs")
struct MembershipCodecTests {
    static let states: [MemberState] = [
        Members.state("topology-1", role: .topology),
        MemberState(info: MemberInfo(name: "frontend-é1", role: .frontend, generation: .max, uid: .max, pid: .min,
                                     endpoints: ["etunnel": "[::1]:7201", "http": "127.0.0.1:8201", "xmpp": "0.0.0.0:5222"]),
                    incarnation: .max, status: .suspect),
        MemberState(info: MemberInfo(name: "router-1", role: .router, generation: 0, uid: 0, pid: 0, endpoints: [:]),
                    incarnation: 0, status: .down),
        Members.state("transport-1", role: .transport, incarnation: 7),
    ]
    static let view = ClusterView(epoch: 42, publisher: "topology-1", members: states)

    /// Decodes `bytes` as `T`, returning the error (nil when it decoded).
    static func decodeError<T: ETunnelMessage>(_ type: T.Type, _ bytes: [UInt8]) -> ETunnelError? {
        do throws(ETunnelError) {
            _ = try T.decode(ByteBuffer(bytes: bytes))
            return nil
        } catch {
            return error
        }
    }

    static func bytes(_ message: some ETunnelMessage) throws -> [UInt8] { Array(try message.encoded().readableBytesView) }

    /// Every strict prefix of the encoding fails with `.badPayload`.
    static func checkTruncations<T: ETunnelMessage>(_ message: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let full = try bytes(message)
        for length in 0..<full.count {
            let error = decodeError(T.self, Array(full.prefix(length)))
            #expect(error?.code == .badPayload, "\(T.self) truncated to \(length) of \(full.count) bytes: \(String(describing: error))",
                    sourceLocation: sourceLocation)
        }
    }

    static func roundTrip<T: ETunnelMessage & Equatable>(_ message: T) throws -> T {
        try T.decode(message.encoded())
    }

    // MARK: Round trips

    @Test("GossipMessage round trip, empty and full")
    func gossip() throws {
        for gossip in [[], Self.states, [Self.states[0]]] {
            #expect(try Self.roundTrip(GossipMessage(gossip: gossip)) == GossipMessage(gossip: gossip))
        }
    }

    @Test("PingRequestMessage round trip")
    func pingRequest() throws {
        let message = PingRequestMessage(target: Self.states[1], timeoutMillis: 150, gossip: Self.states)
        #expect(try Self.roundTrip(message) == message)
        let bare = PingRequestMessage(target: Self.states[2], timeoutMillis: .max, gossip: [])
        #expect(try Self.roundTrip(bare) == bare)
    }

    @Test("PingRequestAnswer round trip, reached and not")
    func pingRequestAnswer() throws {
        for reached in [true, false] {
            let answer = PingRequestAnswer(reached: reached, gossip: reached ? Self.states : [])
            #expect(try Self.roundTrip(answer) == answer)
        }
    }

    @Test("JoinAnswer round trip with and without a view")
    func joinAnswer() throws {
        let withView = JoinAnswer(members: Self.states, view: Self.view)
        #expect(try Self.roundTrip(withView) == withView)
        let withoutView = JoinAnswer(members: Self.states, view: nil)
        #expect(try Self.roundTrip(withoutView) == withoutView)
        #expect(try Self.roundTrip(JoinAnswer(members: [], view: nil)) == JoinAnswer(members: [], view: nil))
    }

    @Test("ClusterView and MemberMessage round trips")
    func viewAndMember() throws {
        #expect(try Self.roundTrip(Self.view) == Self.view)
        let empty = ClusterView(epoch: 0, publisher: "", members: [])
        #expect(try Self.roundTrip(empty) == empty)
        for state in Self.states { #expect(try Self.roundTrip(MemberMessage(member: state)) == MemberMessage(member: state)) }
    }

    @Test("a member state's layout is the one in docs/protocol.md")
    func layout() throws {
        let state = MemberState(info: MemberInfo(name: "ab", role: .router, generation: 0x0102_0304_0506_0708, uid: 9, pid: -2,
                                                 endpoints: ["z": "1", "a": "2"]), incarnation: 5, status: .suspect)
        let expected: [UInt8] =
            [0, 47]                                             // record length
            + [0, 2, 0x61, 0x62]                                // name
            + [3]                                               // role: router
            + [1, 2, 3, 4, 5, 6, 7, 8]                          // generation
            + [0, 0, 0, 0, 0, 0, 0, 9]                          // uid
            + [0xff, 0xff, 0xff, 0xfe]                          // pid
            + [2, 0, 1, 0x61, 0, 1, 0x32, 0, 1, 0x7a, 0, 1, 0x31] // endpoints, sorted by key
            + [0, 0, 0, 0, 0, 0, 0, 5]                          // incarnation
            + [1]                                               // status: suspect
        #expect(try Self.bytes(MemberMessage(member: state)) == expected)
        #expect(try Self.bytes(GossipMessage(gossip: [state])) == [0, 1] + expected)
        #expect(try Self.bytes(ClusterView(epoch: 1, publisher: "t", members: [state])) == [0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0x74, 0, 1] + expected)
        #expect(try Self.bytes(JoinAnswer(members: [], view: nil)) == [0, 0, 0])
        #expect(try Self.bytes(PingRequestAnswer(reached: true, gossip: [])) == [1, 0, 0])
    }

    @Test("trailing bytes are ignored (fields are only ever appended)")
    func trailingBytes() throws {
        let extended = try Self.bytes(GossipMessage(gossip: Self.states)) + [0xde, 0xad, 0xbe, 0xef]
        #expect(try GossipMessage.decode(ByteBuffer(bytes: extended)) == GossipMessage(gossip: Self.states))
        let answer = try Self.bytes(JoinAnswer(members: [], view: Self.view)) + [1, 2, 3]
        #expect(try JoinAnswer.decode(ByteBuffer(bytes: answer)).view == Self.view)
    }

    // MARK: Malformed payloads

    @Test("every truncation of every message throws badPayload")
    func truncations() throws {
        try Self.checkTruncations(GossipMessage(gossip: Self.states))
        try Self.checkTruncations(PingRequestMessage(target: Self.states[1], timeoutMillis: 300, gossip: Self.states))
        try Self.checkTruncations(PingRequestAnswer(reached: true, gossip: Self.states))
        try Self.checkTruncations(PingRequestAnswer(reached: false, gossip: []))
        try Self.checkTruncations(JoinAnswer(members: Self.states, view: Self.view))
        try Self.checkTruncations(JoinAnswer(members: Self.states, view: nil))
        try Self.checkTruncations(Self.view)
        try Self.checkTruncations(MemberMessage(member: Self.states[1]))
    }

    @Test("an unknown role or status byte throws badPayload naming the field")
    func badEnums() throws {
        var bytes = try Self.bytes(MemberMessage(member: Self.states[0]))
        let roleOffset = 2 + 2 + Self.states[0].name.utf8.count
        bytes[roleOffset] = 9
        let role = try #require(Self.decodeError(MemberMessage.self, bytes))
        #expect(role.code == .badPayload)
        #expect(role.message.contains("member.role"), "\(role)")

        var statusBytes = try Self.bytes(MemberMessage(member: Self.states[0]))
        statusBytes[statusBytes.count - 1] = 3
        let status = try #require(Self.decodeError(MemberMessage.self, statusBytes))
        #expect(status.code == .badPayload)
        #expect(status.message.contains("member.status"), "\(status)")
    }

    @Test("a name that is not UTF-8 throws badPayload")
    func badUTF8() throws {
        var bytes = try Self.bytes(MemberMessage(member: Members.state("ab")))
        bytes[2] = 0xff
        bytes[3] = 0xfe
        let error = try #require(Self.decodeError(MemberMessage.self, bytes))
        #expect(error.code == .badPayload)
    }

    @Test("a huge announced count with no data throws badPayload")
    func hugeCount() throws {
        #expect(Self.decodeError(GossipMessage.self, [0xff, 0xff])?.code == .badPayload)
        #expect(Self.decodeError(ClusterView.self, [0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff])?.code == .badPayload)
        #expect(Self.decodeError(JoinAnswer.self, [0, 0, 1])?.code == .badPayload, "a view announced but absent")
    }

    @Test("random bytes either decode or throw badPayload, never crash")
    func fuzz() throws {
        var random = Membership.SplitMix64(seed: 0xf00d)
        let seeds = [try Self.bytes(GossipMessage(gossip: Self.states)), try Self.bytes(JoinAnswer(members: Self.states, view: Self.view)),
                     try Self.bytes(PingRequestMessage(target: Self.states[0], timeoutMillis: 1, gossip: Self.states))]
        for iteration in 0..<3_000 {
            var bytes: [UInt8]
            if iteration % 2 == 0 {
                bytes = (0..<Int(random.next() % 64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            } else {
                bytes = seeds[iteration % seeds.count]       // flip a few bytes of a valid message
                for _ in 0..<(1 + Int(random.next() % 4)) {
                    bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
                }
            }
            for error in [Self.decodeError(GossipMessage.self, bytes), Self.decodeError(PingRequestMessage.self, bytes),
                          Self.decodeError(PingRequestAnswer.self, bytes), Self.decodeError(JoinAnswer.self, bytes),
                          Self.decodeError(ClusterView.self, bytes), Self.decodeError(MemberMessage.self, bytes)] {
                if let error { #expect(error.code == .badPayload, "\(error)") }
            }
        }
    }

    @Test("method ids of the membership service")
    func methods() {
        #expect(MembershipMethods.ping == MethodID(service: 1, method: 1))
        #expect(MembershipMethods.pingRequest == MethodID(service: 1, method: 2))
        #expect(MembershipMethods.join == MethodID(service: 1, method: 3))
        #expect(MembershipMethods.viewPush == MethodID(service: 1, method: 4))
        #expect(MembershipMethods.viewGet == MethodID(service: 1, method: 5))
    }
}
