import Testing
@testable import XMPPCore

@Suite("SASL PLAIN")
struct SASLPlainTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var bytes: [UInt8]
        var expected: (authzid: String?, authcid: String, password: String)?
        var description: String { name }
    }

    static func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    static let cases: [Case] = [
        Case(name: "no authzid", bytes: b("\0user\0pencil"), expected: (nil, "user", "pencil")),
        Case(name: "with authzid", bytes: b("admin@example.com\0user\0pencil"), expected: ("admin@example.com", "user", "pencil")),
        Case(name: "UTF-8 parts", bytes: b("\0jürgen\0pässwörd ✓"), expected: (nil, "jürgen", "pässwörd ✓")),
        Case(name: "255-byte parts", bytes: b(String(repeating: "z", count: 255) + "\0" + String(repeating: "u", count: 255) + "\0" + String(repeating: "p", count: 255)),
             expected: (String(repeating: "z", count: 255), String(repeating: "u", count: 255), String(repeating: "p", count: 255))),
        Case(name: "empty", bytes: [], expected: nil),
        Case(name: "no NUL", bytes: b("userpencil"), expected: nil),
        Case(name: "one NUL", bytes: b("user\0pencil"), expected: nil),
        Case(name: "three NULs", bytes: b("\0user\0pen\0cil"), expected: nil),
        Case(name: "only NULs", bytes: [0, 0], expected: nil),
        Case(name: "empty authcid", bytes: b("\0\0pencil"), expected: nil),
        Case(name: "empty password", bytes: b("\0user\0"), expected: nil),
        Case(name: "256-byte password", bytes: b("\0user\0" + String(repeating: "p", count: 256)), expected: nil),
        Case(name: "256-byte authcid", bytes: b("\0" + String(repeating: "u", count: 256) + "\0pw"), expected: nil),
        Case(name: "256-byte authzid", bytes: b(String(repeating: "z", count: 256) + "\0user\0pw"), expected: nil),
        Case(name: "invalid UTF-8 in password", bytes: b("\0user\0") + [0xC3, 0x28], expected: nil),
        Case(name: "invalid UTF-8 in authcid", bytes: [0, 0xFF, 0, 0x41], expected: nil),
        Case(name: "surrogate in authzid", bytes: [0xED, 0xA0, 0x80, 0, 0x41, 0, 0x41], expected: nil),
    ]

    @Test("parse table", arguments: cases)
    func parse(testCase: Case) {
        do {
            let result = try PLAINMessage.parse(testCase.bytes)
            guard let expected = testCase.expected else {
                Issue.record("accepted \(testCase.name)")
                return
            }
            #expect(result.authzid == expected.authzid)
            #expect(result.authcid == expected.authcid)
            #expect(result.password == expected.password)
        } catch {
            #expect(testCase.expected == nil, "rejected \(testCase.name): \(error)")
            #expect(error.condition == .malformedRequest)
        }
    }

    @Test("PLAIN against SCRAM-only storage")
    func plainAgainstSCRAM() throws {
        let stored = try SCRAMCredentials.derive(password: "pencil", algorithm: .sha256)
        let message = try PLAINMessage.parse(Array("\0user\0pencil".utf8))
        #expect(stored.verifies(plainPassword: message.password))
        let wrong = try PLAINMessage.parse(Array("\0user\0pencil2".utf8))
        #expect(!stored.verifies(plainPassword: wrong.password))
    }
}
