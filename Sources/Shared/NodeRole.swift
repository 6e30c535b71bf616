/// The four kinds of MMGS node. Raw values appear in config files, views and `mmgsctl` output.
public enum NodeRole: String, Sendable, Hashable, CaseIterable, Codable {
    case topology
    case frontend
    case router
    case transport

    /// Stable wire value for eTunnel payloads.
    public var wireValue: UInt8 {
        switch self {
        case .topology: 1
        case .frontend: 2
        case .router: 3
        case .transport: 4
        }
    }

    public init?(wireValue: UInt8) {
        switch wireValue {
        case 1: self = .topology
        case 2: self = .frontend
        case 3: self = .router
        case 4: self = .transport
        default: return nil
        }
    }

    /// The executable that runs this role.
    public var executableName: String {
        self == .topology ? "mmgs-topology" : "mmgs-\(rawValue)"
    }
}
