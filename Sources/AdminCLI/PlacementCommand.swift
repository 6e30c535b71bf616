import ArgumentParser
import Placement

struct PlacementCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "placement",
        abstract: "Compute owners offline for a list of nodes (no cluster needed): to check that every process agrees.")

    @Option(help: "Comma-separated node names (order does not matter).") var nodes: String
    @Option(help: "Also hash KEY-0 … KEY-(N-1) and print their digest.") var keys = 0
    @Option(help: "Key prefix for --keys.") var prefix = "key-"
    @Argument(help: "Keys whose owner to print.") var explicitKeys: [String] = []
    @Flag(help: "Also read keys, one per line, from standard input (for many keys: arguments do not scale).")
    var stdin = false

    func validate() throws {
        guard !nodes.split(separator: ",").isEmpty else { throw ValidationError("--nodes needs at least one name") }
        guard keys >= 0 && keys <= 10_000_000 else { throw ValidationError("--keys must be between 0 and 10000000") }
    }

    func run() {
        let table = PlacementTable(epoch: 0, nodes: nodes.split(separator: ",").map { PlacementNode(name: String($0)) })
        var output = ""
        for key in explicitKeys { output += "\(key) \(table.owner(of: key) ?? "-")\n" }
        if stdin {
            while let line = readLine(strippingNewline: true) {
                guard !line.isEmpty else { continue }
                output += "\(line) \(table.owner(of: line) ?? "-")\n"
            }
        }
        print(output, terminator: "")
        if keys > 0 {
            // FNV-1a over "key owner\n" lines: equal digests mean equal owners for every key.
            var digest: UInt64 = 0xcbf2_9ce4_8422_2325
            for i in 0..<keys {
                for byte in "\(prefix)\(i) \(table.owner(of: "\(prefix)\(i)") ?? "-")\n".utf8 {
                    digest = (digest ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
                }
            }
            print("keys \(keys) digest \(String(digest, radix: 16)) table \(String(table.digest, radix: 16))")
        }
    }
}
