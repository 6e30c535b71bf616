import ArgumentParser
import Foundation
import MMGSShared
import Membership

struct TopologyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "topology", abstract: "Print the cluster's current view.")

    @OptionGroup var cluster: ClusterOptions
    @Flag(help: "Print JSON: {\"epoch\": N, \"nodes\": [{\"name\", \"role\", \"status\", \"pid\", \"endpoints\"}]}.")
    var json = false

    func run() async throws {
        let connection = try cluster.connect()
        defer { connection.close() }
        let view = try await connection.view()
        print(json ? Self.json(view) : Self.table(view))
    }

    static func json(_ view: ClusterView) -> String {
        let nodes: [[String: Any]] = view.members.map { member in
            ["name": member.name, "role": member.info.role.rawValue, "status": member.status.name,
             "pid": Int(member.info.pid), "incarnation": Int(member.incarnation), "endpoints": member.info.endpoints]
        }
        let object: [String: Any] = ["epoch": Int(view.epoch), "publisher": view.publisher, "nodes": nodes]
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    static func table(_ view: ClusterView) -> String {
        var rows = [["NAME", "ROLE", "STATUS", "PID", "ETUNNEL", "HTTP", "XMPP"]]
        let order: [NodeRole] = [.topology, .frontend, .router, .transport]
        for member in view.members.sorted(by: { (order.firstIndex(of: $0.info.role)!, $0.name) < (order.firstIndex(of: $1.info.role)!, $1.name) }) {
            let e = member.info.endpoints
            rows.append([member.name, member.info.role.rawValue, member.status.name, "\(member.info.pid)",
                         e["etunnel"] ?? "-", e["http"] ?? "-", e["xmpp"] ?? "-"])
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max()! }
        let lines = rows.map { row in
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        return "epoch \(view.epoch) (published by \(view.publisher)), \(view.members.count) nodes\n" + lines.joined(separator: "\n")
    }
}
