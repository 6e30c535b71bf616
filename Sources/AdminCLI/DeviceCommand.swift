import ArgumentParser
import ETunnel
import Foundation
import MMGSShared
import Membership
import NIOCore
import StanzaRouting
import XMPPCore

/// `mmgsctl device …`: provisioning of the private community's devices. Passwords are turned
/// into salted SCRAM credentials here, so they never cross the cluster or reach a disk.
struct DeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device", abstract: "Add, list, show, disable, enable, remove devices and change their passwords.",
        subcommands: [Add.self, Import.self, List.self, Show.self, Disable.self, Enable.self, Remove.self, Passwd.self])

    struct Target: ParsableArguments {
        @OptionGroup var cluster: ClusterOptions
        @Option(help: "The private community's domain (default: the cluster file's).") var domain: String?
    }

    /// The device's bare JID and the router that owns it.
    static func locate(_ id: String, target: Target) async throws -> (ClusterConnection, String, ETunnelPeer) {
        let connection = try target.cluster.connect()
        let domain = target.domain ?? target.cluster.clusterDomain ?? "mmgs.local"
        let jid: JID
        do {
            jid = try JID(local: id, domain: domain)
        } catch {
            throw ValidationError("'\(id)' is not a valid device id: \(error)")
        }
        let bare = jid.description
        let view = try await connection.view()
        guard let ownerName = view.placement(for: .router).owner(of: bare), let owner = view.member(named: ownerName),
              let endpoint = owner.info.etunnel.flatMap(ETunnelEndpoint.init) else {
            throw CLIError("no live router in view epoch \(view.epoch)")
        }
        return (connection, bare, connection.client.peer(endpoint))
    }

    static func credentials(password: String) throws -> [ByteBuffer] {
        do {
            return try SCRAMAlgorithm.allCases.map { algorithm in
                ByteBuffer(bytes: try SCRAMCredentials.derive(password: password, algorithm: algorithm).encode())
            }
        } catch {
            throw ValidationError("unusable password: \(error)")
        }
    }

    static func readPassword(_ option: String?, stdin: Bool) throws -> String {
        if let option { return option }
        if stdin, let line = readLine(strippingNewline: true), !line.isEmpty { return line }
        throw ValidationError("give the password with --password PW or --password-stdin")
    }

    static func fetch(_ bare: String, from router: ETunnelPeer) async throws -> DeviceRecord {
        do {
            return try await router.call(RoutingMethods.deviceGet, JIDMessage(jid: bare), as: DeviceRecord.self)
        } catch let error as ETunnelError where error.code == .refused {
            throw CLIError(error.message)
        }
    }

    static func put(_ device: DeviceRecord, mode: DevicePut.Mode, to router: ETunnelPeer) async throws -> DeviceRecord {
        do {
            return try await router.call(RoutingMethods.devicePut, DevicePut(mode: mode, device: device), as: DeviceRecord.self)
        } catch let error as ETunnelError where error.code == .refused {
            throw CLIError(error.message)
        }
    }

    static func describe(_ device: DeviceRecord) -> String {
        let created = Date(timeIntervalSince1970: Double(device.createdMillis) / 1000)
        return """
            jid       \(device.bareJID)
            status    \(device.enabled ? "enabled" : "disabled")
            imei      \(device.imei ?? "-")
            imsi      \(device.imsi ?? "-")
            operator  \(device.operatorName ?? "-")
            profile   \(device.profile ?? "-")
            created   \(ISO8601DateFormatter().string(from: created))
            """
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Provision a device: it logs in as ID@DOMAIN.")
        @OptionGroup var target: Target
        @Argument(help: "Device id (the JID's local part).") var id: String
        @Option(help: "Password (prefer --password-stdin: arguments show in ps).") var password: String?
        @Flag(help: "Read the password from standard input.") var passwordStdin = false
        @Option var imei: String?
        @Option var imsi: String?
        @Option(name: .customLong("operator")) var operatorName: String?
        @Option var profile: String?

        func run() async throws {
            let password = try DeviceCommand.readPassword(self.password, stdin: passwordStdin)
            let credentials = try DeviceCommand.credentials(password: password)
            let (connection, bare, router) = try await DeviceCommand.locate(id, target: target)
            defer { connection.close() }
            let device = DeviceRecord(bareJID: bare, imei: imei, imsi: imsi, operatorName: operatorName, profile: profile,
                                      enabled: true, createdMillis: UInt64(Date().timeIntervalSince1970 * 1000), credentials: credentials)
            let stored = try await DeviceCommand.put(device, mode: .create, to: router)
            print("added \(stored.bareJID)")
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Provision many devices at once: PREFIX1…PREFIXN with one password, or from a CSV file.",
            discussion: """
                CSV lines: id,password[,imei,imsi,operator,profile] (a header line starting with "id" is skipped). \
                Devices that exist are replaced. Credentials are derived once per distinct password (same salt), \
                which keeps imports of 100,000 devices to seconds; use `device add` or `device passwd` for a salt of its own.
                """)
        @OptionGroup var target: Target
        @Option(help: "Generate ids PREFIX<first>…PREFIX<first+count-1>.") var prefix: String?
        @Option var count = 0
        @Option var first = 1
        @Option(help: "Password of the generated devices.") var password: String?
        @Option(help: "CSV file to import instead.") var file: String?
        @Option(help: "Devices per call to a router.") var batch = 1000

        func validate() throws {
            guard (prefix != nil) != (file != nil) else { throw ValidationError("give either --prefix with --count and --password, or --file CSV") }
            if prefix != nil {
                guard count > 0 && count <= 10_000_000 else { throw ValidationError("--count must be between 1 and 10000000") }
                guard password?.isEmpty == false else { throw ValidationError("--password is required with --prefix") }
            }
            guard (1...10_000).contains(batch) else { throw ValidationError("--batch must be between 1 and 10000") }
        }

        func run() async throws {
            let connection = try target.cluster.connect()
            defer { connection.close() }
            let domain = target.domain ?? target.cluster.clusterDomain ?? "mmgs.local"
            var rows: [(id: String, password: String, extra: [String])] = []
            if let prefix, let password {
                rows = (first..<(first + count)).map { ("\(prefix)\($0)", password, []) }
            } else if let file {
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw ValidationError("cannot read \(file)") }
                for (number, line) in text.split(whereSeparator: \.isNewline).enumerated() {
                    let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
                    if number == 0 && fields.first == "id" { continue }
                    guard fields.count >= 2, !fields[0].isEmpty, !fields[1].isEmpty else {
                        throw ValidationError("\(file):\(number + 1): expected id,password[,imei,imsi,operator,profile]")
                    }
                    rows.append((fields[0], fields[1], Array(fields.dropFirst(2))))
                }
            }
            let view = try await connection.view()
            let routers = view.placement(for: .router)
            var credentialsByPassword: [String: [ByteBuffer]] = [:]
            var byRouter: [String: [DeviceRecord]] = [:]
            let now = UInt64(Date().timeIntervalSince1970 * 1000)
            for row in rows {
                let jid: JID
                do { jid = try JID(local: row.id, domain: domain) } catch { throw ValidationError("'\(row.id)' is not a valid device id: \(error)") }
                let credentials = try credentialsByPassword[row.password] ?? DeviceCommand.credentials(password: row.password)
                credentialsByPassword[row.password] = credentials
                func field(_ index: Int) -> String? { row.extra.count > index && !row.extra[index].isEmpty ? row.extra[index] : nil }
                let device = DeviceRecord(bareJID: jid.description, imei: field(0), imsi: field(1), operatorName: field(2), profile: field(3),
                                          enabled: true, createdMillis: now, credentials: credentials)
                guard let owner = routers.owner(of: device.bareJID) else { throw CLIError("no live router in view epoch \(view.epoch)") }
                byRouter[owner, default: []].append(device)
            }
            var imported = 0
            for (name, devices) in byRouter {
                guard let member = view.member(named: name), let endpoint = member.info.etunnel.flatMap(ETunnelEndpoint.init) else { continue }
                let peer = connection.client.peer(endpoint)
                for start in stride(from: 0, to: devices.count, by: batch) {
                    let slice = Array(devices[start..<min(start + batch, devices.count)])
                    var answer = try await peer.call(RoutingMethods.deviceImport, DeviceList(devices: slice).encoded(), timeout: .seconds(60))
                    imported += Int(answer.readInteger(as: UInt32.self) ?? 0)
                }
            }
            print("imported \(imported) devices into \(byRouter.count) router\(byRouter.count == 1 ? "" : "s")")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every device, from every live router.")
        @OptionGroup var target: Target
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let connection = try target.cluster.connect()
            defer { connection.close() }
            let view = try await connection.view()
            var devices: [DeviceRecord] = []
            for router in view.live(.router) {
                guard let endpoint = router.info.etunnel.flatMap(ETunnelEndpoint.init) else { continue }
                var after = ""
                while true {
                    let page: [DeviceRecord]
                    do {
                        page = try await connection.client.peer(endpoint).call(RoutingMethods.deviceList, JIDMessage(jid: after).encoded(), timeout: .seconds(10)).decoded(DeviceList.self).devices
                    } catch {
                        throw CLIError("router \(router.name) did not answer: \(error)")
                    }
                    devices += page
                    guard page.count == 1000, let last = page.last else { break }
                    after = last.bareJID
                }
            }
            devices.sort { $0.bareJID < $1.bareJID }
            if json {
                let objects: [[String: Any]] = devices.map {
                    ["jid": $0.bareJID, "status": $0.enabled ? "enabled" : "disabled", "imei": $0.imei ?? NSNull(), "imsi": $0.imsi ?? NSNull(),
                     "operator": $0.operatorName ?? NSNull(), "profile": $0.profile ?? NSNull()]
                }
                print(String(decoding: try JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys]), as: UTF8.self))
            } else {
                print("\(devices.count) device\(devices.count == 1 ? "" : "s")")
                for device in devices {
                    print("\(device.bareJID)  \(device.enabled ? "enabled" : "disabled")  imei=\(device.imei ?? "-") imsi=\(device.imsi ?? "-") operator=\(device.operatorName ?? "-") profile=\(device.profile ?? "-")")
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one device.")
        @OptionGroup var target: Target
        @Argument var id: String

        func run() async throws {
            let (connection, bare, router) = try await DeviceCommand.locate(id, target: target)
            defer { connection.close() }
            print(DeviceCommand.describe(try await DeviceCommand.fetch(bare, from: router)))
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Refuse the device's logins and close its live sessions.")
        @OptionGroup var target: Target
        @Argument var id: String

        func run() async throws { try await DeviceCommand.setEnabled(false, id: id, target: target) }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Allow a disabled device to log in again.")
        @OptionGroup var target: Target
        @Argument var id: String

        func run() async throws { try await DeviceCommand.setEnabled(true, id: id, target: target) }
    }

    static func setEnabled(_ enabled: Bool, id: String, target: Target) async throws {
        let (connection, bare, router) = try await locate(id, target: target)
        defer { connection.close() }
        var device = try await fetch(bare, from: router)
        device.enabled = enabled
        _ = try await put(device, mode: .update, to: router)
        print("\(enabled ? "enabled" : "disabled") \(bare)")
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a device, its roster and its offline messages.")
        @OptionGroup var target: Target
        @Argument var id: String

        func run() async throws {
            let (connection, bare, router) = try await DeviceCommand.locate(id, target: target)
            defer { connection.close() }
            do {
                _ = try await router.call(RoutingMethods.deviceRemove, JIDMessage(jid: bare).encoded())
            } catch let error as ETunnelError where error.code == .refused {
                throw CLIError(error.message)
            }
            print("removed \(bare)")
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a device's password.")
        @OptionGroup var target: Target
        @Argument var id: String
        @Option var password: String?
        @Flag var passwordStdin = false

        func run() async throws {
            let password = try DeviceCommand.readPassword(self.password, stdin: passwordStdin)
            let credentials = try DeviceCommand.credentials(password: password)
            let (connection, bare, router) = try await DeviceCommand.locate(id, target: target)
            defer { connection.close() }
            var device = try await DeviceCommand.fetch(bare, from: router)
            device.credentials = credentials
            _ = try await DeviceCommand.put(device, mode: .update, to: router)
            print("password changed for \(bare)")
        }
    }
}

extension ByteBuffer {
    func decoded<M: ETunnelMessage>(_ type: M.Type) throws -> M { try M.decode(self) }
}
