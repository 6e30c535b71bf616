import ETunnel

/// eTunnel methods of the private community. Devices (service 0x0010) are administered through
/// the router that owns each device's bare JID; c2s traffic (service 0x0011) flows between
/// front-ends and routers, and between routers.
public enum RoutingMethods {
    // mmgsctl → owning router
    public static let devicePut = MethodID(service: 0x10, method: 1)
    public static let deviceGet = MethodID(service: 0x10, method: 2)
    public static let deviceRemove = MethodID(service: 0x10, method: 3)
    public static let deviceList = MethodID(service: 0x10, method: 4)
    /// Bulk provisioning: create or replace many devices (a `DeviceList`) in one call.
    public static let deviceImport = MethodID(service: 0x10, method: 5)

    // front-end → the router that owns the device's own bare JID
    public static let credentials = MethodID(service: 0x11, method: 1)
    public static let sessionOpen = MethodID(service: 0x11, method: 2)
    public static let sessionClose = MethodID(service: 0x11, method: 3)
    public static let presence = MethodID(service: 0x11, method: 4)
    public static let rosterGet = MethodID(service: 0x11, method: 5)
    public static let rosterSet = MethodID(service: 0x11, method: 6)
    /// Message Carbons (XEP-0280): a session enables or disables them (`CarbonsSet`), and a
    /// session's sent message for the account's other sessions (`CarbonsSent`).
    public static let carbonsSet = MethodID(service: 0x11, method: 12)
    public static let carbonsSent = MethodID(service: 0x11, method: 13)
    /// A stanza for the router that owns its destination's bare JID (from a front-end or a
    /// router). A message delivered on the router's fast path is answered with a `DeliveryLease`.
    public static let route = MethodID(service: 0x11, method: 7)

    // router → front-end, and front-end → front-end on a lease
    public static let deliver = MethodID(service: 0x11, method: 8)
    public static let sessionKill = MethodID(service: 0x11, method: 9)
    /// The sessions of some bare JIDs changed: leases on them (see `DeliveryLease`) are void.
    public static let leaseRevoke = MethodID(service: 0x11, method: 11)

    // router → router
    /// "Send user X's available presences to subscriber Y's sessions" (initial-presence probe).
    public static let probe = MethodID(service: 0x11, method: 10)
}
