import Testing
@testable import MMGSShared

@Suite("HOST:PORT")
struct HostPortTests {
    @Test("valid forms", arguments: [
        ("127.0.0.1:7101", "127.0.0.1", 7101),
        ("localhost:0", "localhost", 0),
        ("topology-1.mmgs.internal:65535", "topology-1.mmgs.internal", 65535),
        ("[::1]:7101", "::1", 7101),
        ("[fe80::1:2]:5222", "fe80::1:2", 5222),
        ("  10.0.0.1:80 ", "10.0.0.1", 80),
    ])
    func valid(text: String, host: String, port: Int) throws {
        let parsed = try HostPort.parse(text, field: "f")
        #expect(parsed == HostPort(host: host, port: port))
    }

    @Test("description brackets IPv6 and round-trips", arguments: ["127.0.0.1:7101", "[::1]:7101", "[2001:db8::7]:443", "example.net:5222"])
    func description(text: String) throws {
        let parsed = try HostPort.parse(text, field: "f")
        #expect(parsed.description == text)
        #expect(try HostPort.parse(parsed.description, field: "f") == parsed)
    }

    @Test("errors name the field, the text and the problem", arguments: [
        ("127.0.0.1", "is not HOST:PORT (for example 127.0.0.1:5222 or [::1]:5222)"),
        ("", "is not HOST:PORT"),
        (":7101", "has no host"),
        ("[]:7101", "has no host"),
        ("127.0.0.1:", "has no valid port (0-65535)"),
        ("127.0.0.1:70000", "has no valid port (0-65535)"),
        ("127.0.0.1:65536", "has no valid port"),
        ("127.0.0.1:-1", "has no valid port"),
        ("127.0.0.1:http", "has no valid port"),
        ("[::1]", "is not [IPv6]:PORT"),
        ("::1:7101", "write an IPv6 address in brackets"),
        ("127.0.0.1: 80", "has no valid port"),
    ])
    func invalid(text: String, problem: String) throws {
        do throws(ConfigurationError) {
            let parsed = try HostPort.parse(text, field: "nodes[0].etunnel")
            Issue.record("'\(text)' parsed as \(parsed)")
        } catch {
            #expect(error.message.hasPrefix("nodes[0].etunnel: '\(text)' "), "\(error.message)")
            #expect(error.message.contains(problem), "\(error.message)")
        }
    }
}
