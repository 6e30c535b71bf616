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
        let example = "(for example 127.0.0.1:5222 or [::1]:5222)"
        let host: String
        let portText: Substring
        if trimmed.hasPrefix("[") {
            guard let close = trimmed.firstIndex(of: "]"), trimmed[trimmed.index(after: close)...].hasPrefix(":") else {
                throw ConfigurationError("\(field): '\(text)' is not [IPv6]:PORT \(example)")
            }
            host = String(trimmed[trimmed.index(after: trimmed.startIndex)..<close])
            portText = trimmed[trimmed.index(close, offsetBy: 2)...]
        } else {
            guard let colon = trimmed.lastIndex(of: ":") else {
                throw ConfigurationError("\(field): '\(text)' is not HOST:PORT \(example)")
            }
            host = String(trimmed[..<colon])
            guard !host.contains(":") else {
                throw ConfigurationError("\(field): '\(text)' is ambiguous; write an IPv6 address in brackets \(example)")
            }
            portText = trimmed[trimmed.index(after: colon)...]
        }
        guard !host.isEmpty else { throw ConfigurationError("\(field): '\(text)' has no host \(example)") }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw ConfigurationError("\(field): '\(text)' has no valid port (0-65535)")
        }
        return HostPort(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

