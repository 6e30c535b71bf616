import ArgumentParser
import ETunnel
import Foundation
import MMGSShared
import Membership
import NIOCore

/// How `mmgsctl` reaches a cluster: by default the local cluster's file; `--seed` names any
/// manager, with the secret from `--secret`, MMGS_SECRET or the cluster file.
public struct ClusterOptions: ParsableArguments {
    @Option(name: .long, help: "A topology manager's eTunnel endpoint HOST:PORT (repeatable).")
    var seed: [String] = []
    @Option(name: .long, help: "Cluster file (default: $MMGS_CONFIG, ./deploy/local/cluster.json, the cluster `mmgs run` is running, /etc/mmgs/cluster.json).")
    var cluster: String?
    @Option(name: .long, help: "Cluster secret (default: MMGS_SECRET or the cluster file).")
    var secret: String?

    public init() {}

    /// The domain of the cluster file in use, if any.
    var clusterDomain: String? {
        let environment = ProcessInfo.processInfo.environment
        let candidates = cluster.map { [$0] } ?? (environment["MMGS_CONFIG"].map { [$0] } ?? Self.defaultFiles)
        for path in candidates where FileManager.default.fileExists(atPath: path) {
            return try? ClusterFile.load(path: path).domain
        }
        return nil
    }

    static var defaultFiles: [String] {
        var files = ["deploy/local/cluster.json"]
        if let running = try? String(contentsOfFile: ClusterFile.currentLocalClusterPointer, encoding: .utf8) {
            files.append(running.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return files + ["/etc/mmgs/cluster.json"]
    }

    func connect() throws -> ClusterConnection {
        let environment = ProcessInfo.processInfo.environment
        var file: ClusterFile?
        let candidates = cluster.map { [$0] } ?? (environment["MMGS_CONFIG"].map { [$0] } ?? Self.defaultFiles)
        for path in candidates where FileManager.default.fileExists(atPath: path) || cluster != nil {
            do { file = try ClusterFile.load(path: path) } catch { throw ValidationError(error.message) }
            break
        }
        var seeds: [ETunnelEndpoint] = []
        for text in seed {
            guard let endpoint = ETunnelEndpoint(text) else { throw ValidationError("--seed must be HOST:PORT, got '\(text)'") }
            seeds.append(endpoint)
        }
        if seeds.isEmpty { seeds = file?.seeds.map { ETunnelEndpoint(host: $0.host, port: $0.port) } ?? [] }
        guard !seeds.isEmpty else {
            throw ValidationError("no cluster found: run from the repository (deploy/local/cluster.json), or pass --cluster FILE or --seed HOST:PORT")
        }
        guard let secret = secret ?? environment["MMGS_SECRET"] ?? file?.secret else {
            throw ValidationError("no cluster secret: pass --secret, set MMGS_SECRET, or use --cluster FILE")
        }
        let configuration = ETunnelConfiguration(nodeName: "mmgsctl-\(ProcessInfo.processInfo.processIdentifier)", clusterSecret: secret)
        return ClusterConnection(client: ETunnelClient(configuration: configuration), seeds: seeds)
    }
}

struct ClusterConnection {
    let client: ETunnelClient
    let seeds: [ETunnelEndpoint]

    /// The view from the first manager that answers.
    func view() async throws -> ClusterView {
        var failures: [String] = []
        for seed in seeds {
            do {
                let answer = try await client.peer(seed).call(MembershipMethods.viewGet, ByteBuffer(), timeout: .seconds(2))
                return try ClusterView.decode(answer)
            } catch {
                failures.append("\(seed): \(error)")
            }
        }
        throw CLIError("no topology manager answered:\n  " + failures.joined(separator: "\n  "))
    }

    func close() { client.close() }
}

struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
