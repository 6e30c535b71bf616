// mmgs-bench: the XMPP load generator (idle, chat, login-storm). Everything is in BenchKit.
import BenchKit

@main
enum MMGSBench {
    static func main() async {
        await BenchCommand.main()
    }
}
