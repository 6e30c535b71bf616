import Testing
@testable import XMPPCore

@Suite("JID")
struct JIDTests {
    struct Valid: Sendable, CustomTestStringConvertible {
        let input: String
        let local: String?
        let domain: String
        let resource: String?
        var testDescription: String { input }
    }

    static let valid: [Valid] = [
        Valid(input: "juliet@example.com", local: "juliet", domain: "example.com", resource: nil),
        Valid(input: "juliet@example.com/foo", local: "juliet", domain: "example.com", resource: "foo"),
        Valid(input: "juliet@example.com/foo bar", local: "juliet", domain: "example.com", resource: "foo bar"),
        Valid(input: "juliet@example.com/foo@bar", local: "juliet", domain: "example.com", resource: "foo@bar"),
        Valid(input: "juliet@example.com/foo/bar", local: "juliet", domain: "example.com", resource: "foo/bar"),
        Valid(input: "example.com/a@b", local: nil, domain: "example.com", resource: "a@b"),
        Valid(input: "example.com", local: nil, domain: "example.com", resource: nil),
        Valid(input: "Juliet@Example.COM/Balcony", local: "juliet", domain: "example.com", resource: "Balcony"),
        Valid(input: "example.com.", local: nil, domain: "example.com", resource: nil),
        Valid(input: "a@example.com./r", local: "a", domain: "example.com", resource: "r"),
        Valid(input: "fußball@example.com", local: "fußball", domain: "example.com", resource: nil),
        Valid(input: "ΣΑ@example.com", local: "σα", domain: "example.com", resource: nil),
        Valid(input: "π@example.com", local: "π", domain: "example.com", resource: nil),
        Valid(input: "user+tag\\20x@xmpp.example.org", local: "user+tag\\20x", domain: "xmpp.example.org", resource: nil),
        Valid(input: "a@[::1]/r", local: "a", domain: "[::1]", resource: "r"),
        Valid(input: "[2001:DB8::1]", local: nil, domain: "[2001:db8::1]", resource: nil),
        Valid(input: "192.168.0.1", local: nil, domain: "192.168.0.1", resource: nil),
        Valid(input: "muc_service.example-host.com", local: nil, domain: "muc_service.example-host.com", resource: nil),
        Valid(input: "user1@bench.local/mmgs-bench 7", local: "user1", domain: "bench.local", resource: "mmgs-bench 7"),
        Valid(input: "user1@EXA_MPLE.com/R", local: "user1", domain: "exa_mple.com", resource: "R"),
        Valid(input: "a~b!c#d$e%f*g=h?i^j`k{l|m}n-o.p_q@x.y", local: "a~b!c#d$e%f*g=h?i^j`k{l|m}n-o.p_q", domain: "x.y", resource: nil),
        Valid(input: "romeo@münchen.example", local: "romeo", domain: "münchen.example", resource: nil),
        Valid(input: "localhost/🌹", local: nil, domain: "localhost", resource: "🌹"),
        Valid(input: String(repeating: "l", count: 1023) + "@d/" + String(repeating: "r", count: 1023),
              local: String(repeating: "l", count: 1023), domain: "d", resource: String(repeating: "r", count: 1023)),
    ]

    @Test(arguments: valid)
    func parsesValid(_ item: Valid) throws {
        let jid = try JID(parsing: item.input)
        #expect(jid.local == item.local)
        #expect(jid.domain == item.domain)
        #expect(jid.resource == item.resource)
        #expect(JID(item.input) == jid)
        // The canonical form parses back to itself.
        #expect(JID(jid.description) == jid)
    }

    static let invalid: [(String, JIDError)] = [
        ("", .emptyDomainpart),
        (".", .emptyDomainpart),
        ("@example.com", .emptyLocalpart),
        ("juliet@", .emptyDomainpart),
        ("juliet@/r", .emptyDomainpart),
        ("example.com/", .emptyResourcepart),
        ("juliet@example.com/", .emptyResourcepart),
        ("/r", .emptyDomainpart),
        ("a@b@c", .invalidDomainpart),
        ("jul iet@example.com", .invalidLocalpartCharacter(" ")),
        ("jul\"iet@example.com", .invalidLocalpartCharacter("\"")),
        ("jul&iet@example.com", .invalidLocalpartCharacter("&")),
        ("jul'iet@example.com", .invalidLocalpartCharacter("'")),
        ("jul:iet@example.com", .invalidLocalpartCharacter(":")),
        ("jul<iet@example.com", .invalidLocalpartCharacter("<")),
        ("jul>iet@example.com", .invalidLocalpartCharacter(">")),
        ("jul\tiet@example.com", .invalidLocalpartCharacter("\t")),
        ("jul\u{7}iet@example.com", .invalidLocalpartCharacter("\u{7}")),
        ("jul\u{00A0}iet@example.com", .invalidLocalpartCharacter("\u{00A0}")),
        ("juliet@exa mple.com", .invalidDomainpart),
        ("juliet@example..com", .invalidDomainpart),
        ("juliet@.example.com", .invalidDomainpart),
        ("juliet@example.com..", .invalidDomainpart),
        ("juliet@exa<mple.com", .invalidDomainpart),
        ("juliet@exa:mple.com", .invalidDomainpart),
        ("juliet@[::1", .invalidDomainpart),
        ("juliet@[]", .invalidDomainpart),
        ("juliet@[::g]", .invalidDomainpart),
        ("juliet@example.com/r\u{0}", .invalidResourcepartCharacter("\u{0}")),
        ("juliet@example.com/r\nx", .invalidResourcepartCharacter("\n")),
        ("juliet@example.com/r\u{7F}", .invalidResourcepartCharacter("\u{7F}")),
        ("Jul iet@example.com", .invalidLocalpartCharacter(" ")),
        (String(repeating: "l", count: 1024) + "@d", .localpartTooLong),
        (String(repeating: "d", count: 1024), .domainpartTooLong),
        ("d/" + String(repeating: "r", count: 1024), .resourcepartTooLong),
        ("d/" + String(repeating: "é", count: 512), .resourcepartTooLong),  // 1024 bytes
    ]

    @Test func rejectsInvalid() {
        for (input, expected) in Self.invalid {
            #expect(throws: expected, "\(input.prefix(40))") { try JID(parsing: input) }
            #expect(JID(input) == nil)
        }
    }

    @Test func bareFullAndEquality() throws {
        let full = try #require(JID("Juliet@Example.com/Balcony"))
        #expect(full.description == "juliet@example.com/Balcony")
        #expect(full.bare == JID("juliet@example.com"))
        #expect(full.bare.isBare)
        #expect(!full.isBare)
        #expect(try full.bare.withResource("Orchard") == JID("juliet@example.com/Orchard"))
        #expect(throws: JIDError.emptyResourcepart) { try full.withResource("") }
        #expect(JID("juliet@example.com/balcony") != full)  // resources are case-sensitive
        #expect(Set([full, JID("JULIET@EXAMPLE.COM/Balcony")!]).count == 1)
        #expect(try JID(local: "Romeo", domain: "Example.NET", resource: "r") == JID("romeo@example.net/r"))
        #expect(throws: JIDError.emptyLocalpart) { try JID(local: "", domain: "example.net") }
    }
}
