/// One journal entry as the caller sees it: what it appended, and the sequence number the journal
/// gave it.
///
/// The journal does not interpret `kind` or `payload`; `kind` lets the owner (the router) dispatch
/// records when it replays them, and lets a replica apply them without knowing more than the
/// sequence order.
public struct JournalRecord: Sendable, Equatable, Hashable {
    /// The caller's record type (0…255), stored as given.
    public var kind: UInt8
    /// 1 for the first record ever appended, then +1 per record, across segments and snapshots.
    public var sequence: UInt64
    /// The caller's bytes, stored as given.
    public var payload: [UInt8]

    public init(kind: UInt8, sequence: UInt64, payload: [UInt8]) {
        self.kind = kind
        self.sequence = sequence
        self.payload = payload
    }
}
