import NIOConcurrencyHelpers

/// The session table behind a lock, so that the message fast path (`CommunityRouter.route(_:done:)`)
/// can read it from the eTunnel event loop without hopping onto the router actor. Every change
/// of sessions still happens on the actor; the lock only makes those changes visible to readers
/// elsewhere (and keeps the fast path's lease bookkeeping consistent with them).
final class SharedSessionTable: @unchecked Sendable {
    private let lock = NIOLock()
    private var table = SessionTable()

    /// Reads copy the table (a reference to its storage: cheap); `_modify` changes it in place
    /// under the lock, so a mutation never copies the dictionary.
    var value: SessionTable {
        get { lock.withLock { table } }
        _modify {
            lock.lock()
            defer { lock.unlock() }
            yield &table
        }
    }

    /// `SessionTable.lease(to:holder:)` under the lock: the targets, the version and the new
    /// holder are one consistent step against the actor's changes.
    func lease(to: String, holder: String?) -> (targets: [SessionEntry], version: UInt64, copies: [SessionEntry]) {
        lock.withLock { table.lease(to: to, holder: holder) }
    }

    func takeRevocations() -> (byFrontend: [String: Set<String>], version: UInt64) {
        lock.withLock { table.takeRevocations() }
    }

    func requeueRevocations(_ bareJIDs: [String], for frontend: String) {
        lock.withLock { table.requeueRevocations(bareJIDs, for: frontend) }
    }
}
