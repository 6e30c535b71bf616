import ETunnel
import NIOCore

/// A provisioned device. The router that owns `bareJID` keeps it in its journal. Credentials are
/// stored SCRAM parameters (one blob per algorithm), never a password.
public struct DeviceRecord: ETunnelMessage, Equatable {
    public var bareJID: String
    public var imei: String?
    public var imsi: String?
    public var operatorName: String?
    public var profile: String?
    public var enabled: Bool
    public var createdMillis: UInt64
    /// Encoded `SCRAMCredentials`, one per algorithm (SHA-1, SHA-256).
    public var credentials: [ByteBuffer]

    public init(bareJID: String, imei: String? = nil, imsi: String? = nil, operatorName: String? = nil, profile: String? = nil,
                enabled: Bool = true, createdMillis: UInt64, credentials: [ByteBuffer]) {
        self.bareJID = bareJID
        self.imei = imei
        self.imsi = imsi
        self.operatorName = operatorName
        self.profile = profile
        self.enabled = enabled
        self.createdMillis = createdMillis
        self.credentials = credentials
    }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        bareJID = try buffer.readShortString(field: "device.jid")
        imei = try buffer.readOptionalString(field: "device.imei")
        imsi = try buffer.readOptionalString(field: "device.imsi")
        operatorName = try buffer.readOptionalString(field: "device.operator")
        profile = try buffer.readOptionalString(field: "device.profile")
        enabled = try buffer.readPayloadInteger(UInt8.self, field: "device.enabled") != 0
        createdMillis = try buffer.readPayloadInteger(UInt64.self, field: "device.created")
        let count = try buffer.readPayloadInteger(UInt8.self, field: "device.credentials")
        credentials = []
        for _ in 0..<count { credentials.append(try buffer.readLongBytes(field: "device.credential")) }
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        try buffer.writeShortString(bareJID)
        try buffer.writeOptionalString(imei)
        try buffer.writeOptionalString(imsi)
        try buffer.writeOptionalString(operatorName)
        try buffer.writeOptionalString(profile)
        buffer.writeInteger(UInt8(enabled ? 1 : 0))
        buffer.writeInteger(createdMillis)
        try buffer.writeCount(credentials.count, as: UInt8.self, field: "device.credentials")
        for credential in credentials { try buffer.writeLongBytes(credential) }
    }
}

/// `device.put`: create, or replace fields of, a device.
public struct DevicePut: ETunnelMessage, Equatable {
    public enum Mode: UInt8, Sendable { case create = 1, update = 2 }
    public var mode: Mode
    public var device: DeviceRecord

    public init(mode: Mode, device: DeviceRecord) {
        self.mode = mode
        self.device = device
    }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        let raw = try buffer.readPayloadInteger(UInt8.self, field: "devicePut.mode")
        guard let mode = Mode(rawValue: raw) else { throw ETunnelError(.badPayload, "devicePut.mode: unknown mode \(raw)") }
        self.mode = mode
        device = try DeviceRecord(from: &buffer)
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        buffer.writeInteger(mode.rawValue)
        try device.encode(into: &buffer)
    }
}

/// A bare JID (device get/remove, credentials, roster get, …).
public struct JIDMessage: ETunnelMessage, Equatable {
    public var jid: String
    public init(jid: String) { self.jid = jid }
    public init(from buffer: inout ByteBuffer) throws(ETunnelError) { jid = try buffer.readShortString(field: "jid") }
    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) { try buffer.writeShortString(jid) }
}

public struct DeviceList: ETunnelMessage, Equatable {
    public var devices: [DeviceRecord]
    public init(devices: [DeviceRecord]) { self.devices = devices }

    public init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        let count = try buffer.readPayloadInteger(UInt32.self, field: "devices.count")
        devices = []
        for _ in 0..<count { devices.append(try DeviceRecord(from: &buffer)) }
    }

    public func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        try buffer.writeCount(devices.count, as: UInt32.self, field: "devices.count")
        for device in devices { try device.encode(into: &buffer) }
    }
}
