import MMGSShared

/// What identifies one running node process and how to reach it. A restarted node keeps its
/// name but gets a new `generation` (start time) and `uid`, so it replaces its dead self.
public struct MemberInfo: Hashable, Sendable {
    public var name: String
    public var role: NodeRole
    /// Wall-clock milliseconds at process start: a later generation supersedes an earlier one.
    public var generation: UInt64
    public var uid: UInt64
    public var pid: Int32
    /// Named endpoints, e.g. "etunnel", "http", "xmpp" → "HOST:PORT".
    public var endpoints: [String: String]

    public init(name: String, role: NodeRole, generation: UInt64, uid: UInt64, pid: Int32, endpoints: [String: String]) {
        self.name = name
        self.role = role
        self.generation = generation
        self.uid = uid
        self.pid = pid
        self.endpoints = endpoints
    }

    public var etunnel: String? { endpoints["etunnel"] }

    /// Whether this identity is a later process than `other` of the same name.
    func supersedes(_ other: MemberInfo) -> Bool {
        (generation, uid) > (other.generation, other.uid)
    }
}

/// SWIM's alive / suspect / dead, spelled as operators read them.
public enum MemberStatus: UInt8, Sendable, Hashable, Comparable {
    case up = 0
    case suspect = 1
    case down = 2

    public static func < (a: MemberStatus, b: MemberStatus) -> Bool { a.rawValue < b.rawValue }

    public var name: String {
        switch self {
        case .up: "up"
        case .suspect: "suspect"
        case .down: "down"
        }
    }
}

/// One member as one node currently believes it to be; also the unit of gossip.
public struct MemberState: Hashable, Sendable {
    public var info: MemberInfo
    public var incarnation: UInt64
    public var status: MemberStatus

    public init(info: MemberInfo, incarnation: UInt64, status: MemberStatus) {
        self.info = info
        self.incarnation = incarnation
        self.status = status
    }

    public var name: String { info.name }

    /// SWIM's precedence rules, extended for restarts: a later process of the same name wins;
    /// for the same process, a higher incarnation wins, and at equal incarnation the worse status
    /// wins (suspect over up, down over both). An `up` with a higher incarnation refutes a
    /// `suspect` or `down`, which lets a wrongly-declared node come back without restarting.
    public func isOverridden(by update: MemberState) -> Bool {
        if update.info.uid != info.uid || update.info.generation != info.generation {
            return update.info.supersedes(info)
        }
        if update.incarnation != incarnation { return update.incarnation > incarnation }
        return update.status > status
    }
}
