import Testing
@testable import XMPPCore

@Suite("SASL base64 and failure conditions")
struct SASLBase64Tests {
    @Test("RFC 4648 §10 vectors round-trip")
    func vectors() {
        let vectors = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="),
                       ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]
        for (plain, encoded) in vectors {
            #expect(SASLBase64.encode(Array(plain.utf8)) == encoded)
            #expect(SASLBase64.decode(encoded) == Array(plain.utf8))
        }
        let all = (0...255).map { UInt8($0) }
        #expect(SASLBase64.decode(SASLBase64.encode(all)) == all)
    }

    @Test("strict decoding rejects non-canonical input")
    func strict() {
        for bad in ["Zg", "Zg=", "Z===", "====", "Zh==", "Zm9=", "Zm9v\n", " Zm9v", "Zm9v ", "Zm=v", "Zm9v====",
                    "Zm9vZ===", "@@@@", "Zm9v-_==", "Zg==Zg==", "Zm\u{0}v", "Zm9vé"] {
            #expect(SASLBase64.decode(bad) == nil, "accepted \(bad)")
        }
    }

    @Test("XMPP element text: empty is absent, '=' is empty, bad base64 is incorrect-encoding")
    func elementText() throws {
        #expect(try SASLBase64.decodeElementText("") == nil)
        #expect(try SASLBase64.decodeElementText("=") == [])
        #expect(try SASLBase64.decodeElementText("Zm9v") == Array("foo".utf8))
        for bad in ["Zm9v!", "==", "Zm9", "Zm9v\n"] {
            #expect(SCRAMTest.saslError { () throws(SASLError) in try SASLBase64.decodeElementText(bad) }?.condition
                == .incorrectEncoding, "\(bad)")
        }
        #expect(SASLBase64.encodeElementText([]) == "=")
        #expect(SASLBase64.encodeElementText(Array("foo".utf8)) == "Zm9v")
    }

    @Test("failure conditions carry the RFC 6120 §6.5 element names")
    func conditions() {
        #expect(SASLFailureCondition.allCases.map(\.rawValue) == [
            "aborted", "account-disabled", "credentials-expired", "encryption-required", "incorrect-encoding",
            "invalid-authzid", "invalid-mechanism", "malformed-request", "mechanism-too-weak", "not-authorized",
            "temporary-auth-failure",
        ])
        #expect(SASLFailureCondition(rawValue: "not-authorized") == .notAuthorized)
        let error = SASLError(.notAuthorized, "authentication failed")
        #expect(error == SASLError(condition: .notAuthorized, text: "authentication failed"))
        #expect(error.description.contains("not-authorized"))
    }
}
