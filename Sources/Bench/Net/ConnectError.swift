import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#endif

/// Short, groupable names for socket-level failures, so a report says "connect/address-in-use
/// × 1 200" (ephemeral ports exhausted: add source addresses) rather than one long error text
/// per device.
enum ConnectError {
    static func describe(_ error: any Error) -> (condition: String, text: String) {
        if let io = error as? IOError { return (condition(errno: io.errnoCode), "\(io)") }
        if let connection = error as? NIOConnectionError {
            if let first = connection.connectionErrors.first { return describe(first.error) }
            if let dns = connection.dnsAAAAError ?? connection.dnsAError { return ("dns", "\(dns)") }
            return ("connect-failed", "\(connection)")
        }
        if let channel = error as? ChannelError {
            switch channel {
            case .connectTimeout: return ("connect-timeout", "\(channel)")
            case .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed, .eof: return ("connection-closed", "\(channel)")
            default: return ("channel-error", "\(channel)")
            }
        }
        if let ssl = error as? NIOSSLError { return ("handshake-failed", "\(ssl)") }
        return ("error", "\(error)")
    }

    static func condition(errno code: Int32) -> String {
        switch code {
        case ECONNREFUSED: "connection-refused"
        case ECONNRESET: "connection-reset"
        case EADDRINUSE: "address-in-use"
        case EADDRNOTAVAIL: "address-not-available"
        case EMFILE, ENFILE: "too-many-open-files"
        case ETIMEDOUT: "timed-out"
        case EPIPE: "broken-pipe"
        case ENETUNREACH, EHOSTUNREACH: "unreachable"
        default: "errno-\(code)"
        }
    }
}
