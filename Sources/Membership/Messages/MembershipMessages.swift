import ETunnel
import MMGSShared
import NIOCore

/// eTunnel methods of the membership service (service 0x0001).
public enum MembershipMethods {
    public static let ping = MethodID(service: 1, method: 1)
    public static let pingRequest = MethodID(service: 1, method: 2)
    public static let join = MethodID(service: 1, method: 3)
    public static let viewPush = MethodID(service: 1, method: 4)
    public static let viewGet = MethodID(service: 1, method: 5)
}

extension ByteBuffer {
    /// A member state is a u16-length-prefixed record, so fields can be appended to it later
    /// without breaking readers (they skip what they do not know).
    mutating func writeMemberState(_ state: MemberState) throws(ETunnelError) {
        let lengthIndex = writerIndex
        writeInteger(UInt16(0))
        try writeShortString(state.info.name)
        writeInteger(state.info.role.wireValue)
        writeInteger(state.info.generation)
        writeInteger(state.info.uid)
        writeInteger(state.info.pid)
        let endpoints = state.info.endpoints.sorted { $0.key < $1.key }
        try writeCount(endpoints.count, as: UInt8.self, field: "member.endpoints")
        for (key, value) in endpoints {
            try writeShortString(key)
            try writeShortString(value)
        }
        writeInteger(state.incarnation)
        writeInteger(state.status.rawValue)
        let length = writerIndex - lengthIndex - 2
        guard let fits = UInt16(exactly: length) else { throw ETunnelError(.frameTooLarge, "member state: \(length) bytes, at most 65,535") }
        setInteger(fits, at: lengthIndex)
    }

    mutating func readMemberState() throws(ETunnelError) -> MemberState {
        let length = try readPayloadInteger(UInt16.self, field: "member.length")
        guard var record = readSlice(length: Int(length)) else {
            throw ETunnelError(.badPayload, "member.length: \(length) bytes announced, \(readableBytes) present")
        }
        return try record.readMemberStateFields()
    }

    private mutating func readMemberStateFields() throws(ETunnelError) -> MemberState {
        let name = try readShortString(field: "member.name")
        let roleByte = try readPayloadInteger(UInt8.self, field: "member.role")
        guard let role = NodeRole(wireValue: roleByte) else { throw ETunnelError(.badPayload, "member.role: unknown role \(roleByte)") }
        let generation = try readPayloadInteger(UInt64.self, field: "member.generation")
        let uid = try readPayloadInteger(UInt64.self, field: "member.uid")
        let pid = try readPayloadInteger(Int32.self, field: "member.pid")
        let count = try readPayloadInteger(UInt8.self, field: "member.endpoints")
        var endpoints: [String: String] = [:]
        for _ in 0..<count {
            let key = try readShortString(field: "member.endpoint.key")
            endpoints[key] = try readShortString(field: "member.endpoint.value")
        }
        let incarnation = try readPayloadInteger(UInt64.self, field: "member.incarnation")
        let statusByte = try readPayloadInteger(UInt8.self, field: "member.status")
        guard let status = MemberStatus(rawValue: statusByte) else { throw ETunnelError(.badPayload, "member.status: unknown status \(statusByte)") }
        let info = MemberInfo(name: name, role: role, generation: generation, uid: uid, pid: pid, endpoints: endpoints)
        return MemberState(info: info, incarnation: incarnation, status: status)
    }

    mutating func writeMemberStates(_ states: [MemberState]) throws(ETunnelError) {
        try writeCount(states.count, as: UInt16.self, field: "gossip.count")
        for state in states { try writeMemberState(state) }
    }

    mutating func readMemberStates() throws(ETunnelError) -> [MemberState] {
        let count = try readPayloadInteger(UInt16.self, field: "members.count")
        var states: [MemberState] = []
        states.reserveCapacity(Int(count))
        for _ in 0..<count { states.append(try readMemberState()) }
        return states
    }
}

/// A ping or an ack: both only carry gossip.
public struct GossipMessage: ETunnelMessage, Equatable {
    public var gossip: [MemberState]
    public init(gossip: [MemberState]) { self.gossip = gossip }
    public init(from buffer: inout ByteBuffer) throws(ETunnelError) { gossip = try buffer.readMemberStates() }
    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) { try buffer.writeMemberStates(gossip) }
}

/// "Please ping `target` for me within `timeoutMillis`."
public struct PingRequestMessage: ETunnelMessage, Equatable {
    public var target: MemberState
    public var timeoutMillis: UInt32
    public var gossip: [MemberState]

    public init(target: MemberState, timeoutMillis: UInt32, gossip: [MemberState]) {
        self.target = target
        self.timeoutMillis = timeoutMillis
        self.gossip = gossip
    }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        target = try buffer.readMemberState()
        timeoutMillis = try buffer.readPayloadInteger(UInt32.self, field: "pingRequest.timeout")
        gossip = try buffer.readMemberStates()
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        try buffer.writeMemberState(target)
        buffer.writeInteger(timeoutMillis)
        try buffer.writeMemberStates(gossip)
    }
}

public struct PingRequestAnswer: ETunnelMessage, Equatable {
    public var reached: Bool
    public var gossip: [MemberState]

    public init(reached: Bool, gossip: [MemberState]) {
        self.reached = reached
        self.gossip = gossip
    }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        reached = try buffer.readPayloadInteger(UInt8.self, field: "pingRequestAnswer.reached") != 0
        gossip = try buffer.readMemberStates()
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        buffer.writeInteger(UInt8(reached ? 1 : 0))
        try buffer.writeMemberStates(gossip)
    }
}

/// A join answer: every member the manager knows, and its current view if it has one.
public struct JoinAnswer: ETunnelMessage, Equatable {
    public var members: [MemberState]
    public var view: ClusterView?

    public init(members: [MemberState], view: ClusterView?) {
        self.members = members
        self.view = view
    }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        members = try buffer.readMemberStates()
        let hasView = try buffer.readPayloadInteger(UInt8.self, field: "joinAnswer.hasView")
        view = hasView != 0 ? try ClusterView(from: &buffer) : nil
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        try buffer.writeMemberStates(members)
        buffer.writeInteger(UInt8(view == nil ? 0 : 1))
        try view?.encode(into: &buffer)
    }
}

/// A single member state (join request).
public struct MemberMessage: ETunnelMessage, Equatable {
    public var member: MemberState
    public init(member: MemberState) { self.member = member }
    public init(from buffer: inout ByteBuffer) throws(ETunnelError) { member = try buffer.readMemberState() }
    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) { try buffer.writeMemberState(member) }
}
