@testable import BenchKit
import Foundation
import Testing

/// Worker processes must all get a broadcast command at once: a login ramp's `connect` call
/// blocks until the ramp ends, so links that queue behind each other start their workers one
/// ramp late (the generator then falls behind its schedule while the box idles).
@Suite("Worker process links")
struct ProcessWorkerLinkTests {
    @Test func aBroadcastReachesEveryWorkerBeforeAnyAnswers() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mmgs-links-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let workers = 6
        // Each fake worker notes that it got the command, then answers only once every worker
        // has (or gives up after 10 s and exits without answering).
        let script = """
            read line; : > "$0/got.$1"; i=0
            while [ "$(ls "$0" | grep -c '^got')" -lt \(workers) ]; do
              i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1
            done
            echo '{"disconnected":{}}'
            """
        let links = try (0..<workers).map { try ProcessWorkerLink(executable: "/bin/sh", arguments: ["-c", script, directory, "\($0)"]) }
        let replies = try await withThrowingTaskGroup(of: WorkerReply.self) { group in
            for link in links { group.addTask { try await link.call(.disconnect) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for link in links { await link.finish() }
        #expect(replies.count == workers)
        #expect(replies.allSatisfy { if case .disconnected = $0 { true } else { false } })
    }
}
