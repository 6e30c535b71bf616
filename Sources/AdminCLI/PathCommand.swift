import ArgumentParser
import ETunnel
import Foundation
import MMGSShared
import Membership
import NodeRuntime

struct PathCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "path",
        abstract: "Send a real eTunnel call along KEY's path (front-end → router → transport) and print the hops and round-trip time.")

    @OptionGroup var cluster: ClusterOptions
    @Argument(help: "The key, e.g. a bare JID such as alice@mmgs.local.") var key: String
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard !key.isEmpty, key.utf8.count <= 3071 else { throw ValidationError("KEY must be 1 to 3071 bytes") }
    }

    func run() async throws {
        let connection = try cluster.connect()
        defer { connection.close() }
        let view = try await connection.view()
        // The key picks its front-end too, so the same key always takes the same whole path.
        guard let frontendName = view.placement(for: .frontend).owner(of: key),
              let frontend = view.member(named: frontendName),
              let endpoint = frontend.info.etunnel.flatMap(ETunnelEndpoint.init) else {
            throw CLIError("no live front-end in view epoch \(view.epoch)")
        }
        let clock = ContinuousClock()
        let start = clock.now
        let answer = try await connection.client.peer(endpoint).call(PathTraceMethods.trace, PathTraceRequest(key: key), as: PathTraceAnswer.self, timeout: .seconds(5))
        let rtt = (clock.now - start).milliseconds
        if json {
            let hops: [[String: Any]] = answer.hops.map { ["name": $0.name, "role": $0.role.rawValue, "etunnel": $0.etunnel, "epoch": Int($0.epoch)] }
            let object: [String: Any] = ["key": key, "epoch": Int(view.epoch), "hops": hops, "rtt_ms": (rtt * 1000).rounded() / 1000]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print("key \(key), view epoch \(view.epoch)")
            print("  " + answer.hops.map { "\($0.name) (\($0.role.rawValue) \($0.etunnel))" }.joined(separator: " → "))
            print(String(format: "  round trip %.3f ms", rtt))
        }
    }
}
