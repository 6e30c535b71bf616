import Foundation

/// A `HOST:PORT` pair from a config file or command line.
public struct HostPort: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT` or `[IPv6]:PORT`; port 0 means "any free port".
    public static func parse(_ text: String, field: String) throws(ConfigurationError) -> HostPort {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let colon = trimmed.lastIndex(of: ":") else {
            throw ConfigurationError("\(field): '\(text)' is not HOST:PORT (for example 127.0.0.1:5222)")
        }
        var host = String(trimmed[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ConfigurationError("\(field): '\(text)' has no host (for example 127.0.0.1:5222)") }
        guard let port = Int(trimmed[trimmed.index(after: colon)...]), (0...65535).contains(port) else {
            throw ConfigurationError("\(field): '\(text)' has no valid port (0-65535)")
        }
        return HostPort(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

