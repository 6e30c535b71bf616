import NIOCore

/// The four handshake payloads. Nonces and proofs are 32 bytes (HMAC-SHA256 output size).
enum Handshake {
    static let nonceSize = 32
    static let proofSize = 32
    static let maxNodeNameBytes = 255

    /// Peer names end up in logs and error messages: keep them short and printable.
    static func isValidNodeName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= maxNodeNameBytes && !name.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    struct Hello: Equatable {
        var minVersion: UInt8
        var maxVersion: UInt8
        var nonce: [UInt8]
        var receiveWindow: UInt32
        var nodeName: String
    }

    struct Challenge: Equatable {
        var nonce: [UInt8]
        var proof: [UInt8]
        var receiveWindow: UInt32
        var nodeName: String
    }

    struct Auth: Equatable {
        var proof: [UInt8]
    }
}

extension Handshake.Hello: ETunnelMessage {
    init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        self.minVersion = try buffer.readPayloadInteger(UInt8.self, field: "hello.minVersion")
        self.maxVersion = try buffer.readPayloadInteger(UInt8.self, field: "hello.maxVersion")
        self.nonce = try buffer.readPayloadBytes(Handshake.nonceSize, field: "hello.nonce")
        self.receiveWindow = try buffer.readPayloadInteger(UInt32.self, field: "hello.receiveWindow")
        self.nodeName = try buffer.readShortString(field: "hello.nodeName")
        guard Handshake.isValidNodeName(nodeName) else { throw ETunnelError(.badPayload, "hello.nodeName: 1 to \(Handshake.maxNodeNameBytes) bytes, no control characters") }
    }

    func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        buffer.writeInteger(minVersion)
        buffer.writeInteger(maxVersion)
        buffer.writeBytes(nonce)
        buffer.writeInteger(receiveWindow)
        try buffer.writeShortString(nodeName, field: "nodeName")
    }
}

extension Handshake.Challenge: ETunnelMessage {
    init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        self.nonce = try buffer.readPayloadBytes(Handshake.nonceSize, field: "challenge.nonce")
        self.proof = try buffer.readPayloadBytes(Handshake.proofSize, field: "challenge.proof")
        self.receiveWindow = try buffer.readPayloadInteger(UInt32.self, field: "challenge.receiveWindow")
        self.nodeName = try buffer.readShortString(field: "challenge.nodeName")
        guard Handshake.isValidNodeName(nodeName) else { throw ETunnelError(.badPayload, "challenge.nodeName: 1 to \(Handshake.maxNodeNameBytes) bytes, no control characters") }
    }

    func encode(into buffer: inout ByteBuffer) throws(ETunnelError) {
        buffer.writeBytes(nonce)
        buffer.writeBytes(proof)
        buffer.writeInteger(receiveWindow)
        try buffer.writeShortString(nodeName, field: "nodeName")
    }
}

extension Handshake.Auth: ETunnelMessage {
    init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        self.proof = try buffer.readPayloadBytes(Handshake.proofSize, field: "auth.proof")
    }

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeBytes(proof)
    }
}

/// Error frame payload: u16 code, then a short string message.
struct ErrorPayload: ETunnelMessage {
    var error: ETunnelError

    init(_ error: ETunnelError) { self.error = error }

    init(from buffer: inout ByteBuffer) throws(ETunnelError) {
        let code = try buffer.readPayloadInteger(UInt16.self, field: "error.code")
        let message = try buffer.readShortString(field: "error.message")
        self.error = ETunnelError(.init(rawValue: code), message)
    }

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(error.code.rawValue)
        // Messages are for humans; cap them in bytes so an error frame can never be oversized.
        buffer.writeCappedString(error.message, maxBytes: 1024)
    }
}
