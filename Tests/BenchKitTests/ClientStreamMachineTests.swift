@testable import BenchKit
import Testing
import XMPPCore

@Suite("Client stream state machine")
struct ClientStreamMachineTests {
    let header = ServerScript.header
    let sasl = ServerScript.sasl

    func options(_ mechanism: LoginMechanism, password: String = "pw", tls: Bool = false, resource: String? = "bench",
                 cache: Bool = true) -> LoginOptions {
        LoginOptions(username: "user1", domain: "example.net", password: password, mechanism: mechanism, startTLS: tls, resource: resource,
                     cacheSCRAMKeys: cache)
    }

    @Test func plainLoginBindAndPresence() {
        var script = ServerScript(options(.plain))
        script.start()
        #expect(script.written == ["<?xml version='1.0'?><stream:stream to='example.net' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"])
        let auth = script.feed(header + ServerScript.features(["SCRAM-SHA-1", "PLAIN"]))
        #expect(auth == ["<auth xmlns='\(sasl)' mechanism='PLAIN'>AHVzZXIxAHB3</auth>"])
        #expect(ServerScript.saslPayload(auth[0]) == [0] + Array("user1".utf8) + [0] + Array("pw".utf8))
        let restart = script.feed("<success xmlns='\(sasl)'/>")
        #expect(restart.count == 1 && restart[0].hasPrefix("<?xml version='1.0'?><stream:stream to='example.net'"))
        let bind = script.feed(header + ServerScript.bindFeatures)
        #expect(bind == ["<iq type='set' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>"])
        let presence = script.feed("<iq type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>user1@example.net/bench</jid></bind></iq>")
        #expect(presence == ["<presence/>"])
        #expect(script.readyJID == "user1@example.net/bench")
        #expect(script.machine.isReady)
        #expect(script.failure == nil)
    }

    @Test func serverChosenResource() {
        var script = ServerScript(options(.plain, resource: nil))
        script.start()
        script.feed(header + ServerScript.features(["PLAIN"]))
        script.feed("<success xmlns='\(sasl)'/>")
        #expect(script.feed(header + ServerScript.bindFeatures) == ["<iq type='set' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'></bind></iq>"])
    }

    /// Both SCRAM clients (XMPPCore's, and the key-caching one) against XMPPCore's server.
    @Test(arguments: [SCRAMAlgorithm.sha256, .sha1], [false, true])
    func scramAgainstXMPPCoreServer(_ algorithm: SCRAMAlgorithm, cache: Bool) throws {
        let mechanism: LoginMechanism = algorithm == .sha256 ? .scramSHA256 : .scramSHA1
        let credentials = try SCRAMCredentials.derive(password: "pw", algorithm: algorithm, iterations: 4096)
        var server = SCRAMServer(algorithm: algorithm)
        var script = ServerScript(options(mechanism, cache: cache))
        script.start()
        let auth = script.feed(header + ServerScript.features(["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]))
        #expect(auth.count == 1 && auth[0].contains("mechanism='\(algorithm.mechanismName)'"))
        let username = try server.receiveClientFirst(try #require(ServerScript.saslPayload(auth[0])))
        #expect(username == "user1")
        let challenge = server.serverFirst(credentials: credentials)
        let response = script.feed("<challenge xmlns='\(sasl)'>\(SASLBase64.encodeElementText(challenge))</challenge>")
        #expect(response.count == 1 && response[0].hasPrefix("<response xmlns='\(sasl)'>"))
        let serverFinal = try server.receiveClientFinal(try #require(ServerScript.saslPayload(response[0])))
        #expect(server.isAuthenticated)
        let restart = script.feed("<success xmlns='\(sasl)'>\(SASLBase64.encodeElementText(serverFinal))</success>")
        #expect(restart.count == 1 && restart[0].contains("<stream:stream"))
        script.feed(header + ServerScript.bindFeatures)
        script.feed("<iq type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>user1@example.net/bench</jid></bind></iq>")
        #expect(script.readyJID == "user1@example.net/bench")
    }

    @Test(arguments: [false, true])
    func scramWrongPasswordIsReportedWithTheServersCondition(cache: Bool) throws {
        let credentials = try SCRAMCredentials.derive(password: "right", algorithm: .sha256, iterations: 4096)
        var server = SCRAMServer(algorithm: .sha256)
        var script = ServerScript(options(.scramSHA256, password: "wrong", cache: cache))
        script.start()
        let auth = script.feed(header + ServerScript.features(["SCRAM-SHA-256"]))
        _ = try server.receiveClientFirst(try #require(ServerScript.saslPayload(auth[0])))
        let response = script.feed("<challenge xmlns='\(sasl)'>\(SASLBase64.encodeElementText(server.serverFirst(credentials: credentials)))</challenge>")
        #expect(throws: SASLError.self) { try server.receiveClientFinal(try #require(ServerScript.saslPayload(response[0]))) }
        script.feed("<failure xmlns='\(sasl)'><not-authorized/><text xml:lang='en'>wrong device id or password</text></failure>")
        #expect(script.failure == LoginFailure(.sasl, "not-authorized", text: "wrong device id or password"))
        #expect(script.failure?.reason == "sasl/not-authorized")
        #expect(script.machine.isFailed)
    }

    @Test(arguments: [false, true])
    func scramForgedServerSignatureFails(cache: Bool) throws {
        let credentials = try SCRAMCredentials.derive(password: "pw", algorithm: .sha1, iterations: 4096)
        var server = SCRAMServer(algorithm: .sha1)
        var script = ServerScript(options(.scramSHA1, cache: cache))
        script.start()
        let auth = script.feed(header + ServerScript.features(["SCRAM-SHA-1"]))
        _ = try server.receiveClientFirst(try #require(ServerScript.saslPayload(auth[0])))
        script.feed("<challenge xmlns='\(sasl)'>\(SASLBase64.encodeElementText(server.serverFirst(credentials: credentials)))</challenge>")
        script.feed("<success xmlns='\(sasl)'>\(SASLBase64.encode(Array("v=AAAAAAAAAAAAAAAAAAAAAAAAAAA=".utf8)))</success>")
        #expect(script.failure?.stage == .sasl)
        #expect(script.failure?.condition == "client-not-authorized")
        #expect(script.readyJID == nil)
    }

    @Test func mechanismNotOffered() {
        var script = ServerScript(options(.plain))
        script.start()
        #expect(script.feed(header + ServerScript.features(["SCRAM-SHA-1"])).isEmpty)
        #expect(script.failure?.reason == "sasl/mechanism-not-offered")
        #expect(script.failure?.text == "PLAIN not in [SCRAM-SHA-1]")
    }

    @Test func startTLSThenLogin() {
        var script = ServerScript(options(.plain, tls: true))
        script.start()
        #expect(script.feed(header + ServerScript.features(["SCRAM-SHA-1"], startTLS: true)) == ["<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"])
        #expect(script.feed("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>").isEmpty)
        #expect(script.tlsRequested)
        let header2 = script.tlsStarted()
        #expect(header2.count == 1 && header2[0].contains("<stream:stream"))
        #expect(script.feed(header + ServerScript.features(["PLAIN"])).first?.contains("mechanism='PLAIN'") == true)
    }

    @Test func startTLSRequiredButNotOffered() {
        var script = ServerScript(options(.plain, tls: true))
        script.start()
        script.feed(header + ServerScript.features(["PLAIN"]))
        #expect(script.failure?.reason == "tls/starttls-not-offered")
    }

    @Test func startTLSRefused() {
        var script = ServerScript(options(.plain, tls: true))
        script.start()
        script.feed(header + ServerScript.features(["PLAIN"], startTLS: true))
        script.feed("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        #expect(script.failure?.reason == "tls/failure")
    }

    @Test func bindErrorCarriesTheStanzaCondition() {
        var script = ServerScript(options(.plain))
        script.start()
        script.feed(header + ServerScript.features(["PLAIN"]))
        script.feed("<success xmlns='\(sasl)'/>")
        script.feed(header + ServerScript.bindFeatures)
        script.feed("<iq type='error' id='bind-1'><error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no</text></error></iq>")
        #expect(script.failure == LoginFailure(.bind, "not-allowed", text: "no"))
    }

    @Test func requiredSessionIsEstablished() {
        var script = ServerScript(options(.plain))
        script.start()
        script.feed(header + ServerScript.features(["PLAIN"]))
        script.feed("<success xmlns='\(sasl)'/>")
        script.feed(header + "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></stream:features>")
        let session = script.feed("<iq type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>user1@example.net/r</jid></bind></iq>")
        #expect(session == ["<iq type='set' id='session-1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>"])
        #expect(script.readyJID == nil)
        #expect(script.feed("<iq type='result' id='session-1'/>") == ["<presence/>"])
        #expect(script.readyJID == "user1@example.net/r")
    }

    @Test func streamErrorIsReportedWithItsStage() {
        var script = ServerScript(options(.plain))
        script.start()
        script.feed(header + "<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>not here</text></stream:error></stream:stream>")
        #expect(script.failure == LoginFailure(.sasl, "host-unknown", text: "not here"))
    }

    @Test func connectionLossAndTimeoutAreFailures() {
        var closed = ClientStreamMachine(options: options(.plain))
        _ = closed.start()
        #expect(closed.connectionClosed() == [.failed(LoginFailure(.sasl, "connection-closed"))])
        #expect(closed.connectionClosed().isEmpty)  // reported once

        var slow = ClientStreamMachine(options: options(.plain))
        _ = slow.start()
        guard case .failed(let failure) = slow.timedOut(after: 5).first else { Issue.record("no failure"); return }
        #expect(failure.stage == .timeout)
    }

    @Test func saslFailureAfterSuccessIsNotNeeded() {
        // A ready machine ignores further stanzas (the channel handler takes over).
        var script = ServerScript(options(.plain))
        script.start()
        script.feed(header + ServerScript.features(["PLAIN"]))
        script.feed("<success xmlns='\(sasl)'/>" )
        script.feed(header + ServerScript.bindFeatures + "<iq type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>a@b/c</jid></bind></iq>")
        #expect(script.readyJID == "a@b/c")
        #expect(script.feed("<message><body>hi</body></message>").isEmpty)
        #expect(script.failure == nil)
    }
}
