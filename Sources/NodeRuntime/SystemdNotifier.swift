import CSystemd

/// sd_notify through libsystemd: READY=1 once the node has a view, WATCHDOG=1 while it is
/// healthy, STOPPING=1 on shutdown. Outside systemd (no NOTIFY_SOCKET) every call is a no-op.
public enum SystemdNotifier {
    public static func notify(_ state: String) {
        _ = sd_notify(0, state)
    }

    /// The watchdog interval systemd expects pings within, if `WatchdogSec=` is set.
    public static var watchdogInterval: Duration? {
        var micros: UInt64 = 0
        guard sd_watchdog_enabled(0, &micros) > 0, micros > 0 else { return nil }
        return .microseconds(Int64(micros))
    }
}
