/// The two halves of a JID as routing handles it: addresses here were validated by the
/// front-end that stamped them, so splitting at the first `/` is all that is needed.
public enum JIDText {
    /// `local@domain/resource` → `local@domain`.
    public static func bare(_ jid: String) -> String {
        jid.split(separator: "/", maxSplits: 1).first.map(String.init) ?? jid
    }

    /// `local@domain/resource` → `resource`; nil for a bare JID.
    public static func resource(_ jid: String) -> String? {
        let parts = jid.split(separator: "/", maxSplits: 1)
        return parts.count == 2 ? String(parts[1]) : nil
    }
}
