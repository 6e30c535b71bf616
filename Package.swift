// swift-tools-version: 6.0
// The dependency list below is the architecture: pure libraries (Placement, Membership's state
// machine) at the bottom, eTunnel and the node runtime above them, thin executables on top.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let nio: [Target.Dependency] = [
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "NIOPosix", package: "swift-nio"),
]
let log: Target.Dependency = .product(name: "Logging", package: "swift-log")
let metrics: Target.Dependency = .product(name: "Metrics", package: "swift-metrics")

let package = Package(
    name: "mmgs",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mmgs-frontend", targets: ["mmgs-frontend"]),
        .executable(name: "mmgs-router", targets: ["mmgs-router"]),
        .executable(name: "mmgs-transport", targets: ["mmgs-transport"]),
        .executable(name: "mmgs-topology", targets: ["mmgs-topology"]),
        .executable(name: "mmgsctl", targets: ["mmgsctl"]),
        .executable(name: "mmgs", targets: ["mmgs"]),
        .executable(name: "mmgs-etunnel-bench", targets: ["mmgs-etunnel-bench"]),
        .executable(name: "mmgs-bench", targets: ["mmgs-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        // MARK: C libraries
        .systemLibrary(
            name: "CSystemd", path: "Sources/CSystemd", pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]),

        .systemLibrary(
            name: "CExpat", path: "Sources/CExpat", pkgConfig: "expat",
            providers: [.apt(["libexpat1-dev"])]),

        // MARK: Pure foundations (no I/O)
        .target(name: "MMGSShared", dependencies: [log], path: "Sources/Shared", swiftSettings: swiftSettings),
        .target(name: "Placement", dependencies: ["MMGSShared"], swiftSettings: swiftSettings),
        // XMPP without sockets: streaming XML (expat), JIDs, stanza headers, errors, SASL/SCRAM.
        .target(
            name: "XMPPCore",
            dependencies: [
                "CExpat", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            path: "Sources/XMPP", swiftSettings: swiftSettings),
        // Durable state without a database: segmented append-only logs with CRC and group commit.
        .target(name: "Journal", dependencies: [log], swiftSettings: swiftSettings),

        // MARK: eTunnel, the inter-node RPC
        .target(
            name: "ETunnel",
            dependencies: nio + [log, metrics, .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings),

        // The private community's eTunnel payloads, shared by front-ends, routers and mmgsctl.
        .target(name: "StanzaRouting", dependencies: ["ETunnel", "MMGSShared", .product(name: "NIOCore", package: "swift-nio")], swiftSettings: swiftSettings),

        // MARK: Membership (SWIM state machine + eTunnel shell) and the topology manager
        .target(
            name: "Membership",
            dependencies: ["MMGSShared", "ETunnel", "Placement", log, metrics] + nio,
            swiftSettings: swiftSettings),
        .target(
            name: "NodeRuntime",
            dependencies: [
                "MMGSShared", "ETunnel", "Membership", "CSystemd", log, metrics,
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ] + nio,
            swiftSettings: swiftSettings),
        .target(name: "Topology", dependencies: ["NodeRuntime", "Membership"], swiftSettings: swiftSettings),

        // MARK: The roles (libraries; executables below are one file each)
        .target(
            name: "MMGSFrontEnd",
            dependencies: ["NodeRuntime", "Placement", "StanzaRouting", "XMPPCore", metrics,
                           .product(name: "NIOSSL", package: "swift-nio-ssl"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")] + nio,
            path: "Sources/FrontEnd", swiftSettings: swiftSettings),
        .target(name: "MMGSRouter", dependencies: ["NodeRuntime", "Placement", "StanzaRouting", "Journal", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"), .product(name: "NIOConcurrencyHelpers", package: "swift-nio")], path: "Sources/Router", swiftSettings: swiftSettings),
        .target(name: "MMGSTransport", dependencies: ["NodeRuntime", "Placement"], path: "Sources/Transport", swiftSettings: swiftSettings),
        .target(
            name: "AdminCLI",
            dependencies: ["NodeRuntime", "Membership", "Placement", "ETunnel", "StanzaRouting", "XMPPCore",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings),
        .target(
            name: "Launcher",
            dependencies: ["MMGSShared", "NodeRuntime", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings),

        // The XMPP load generator (works against any XMPP server).
        .target(
            name: "BenchKit",
            dependencies: [
                "XMPPCore", "MMGSShared", log,
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ] + nio,
            path: "Sources/Bench", swiftSettings: swiftSettings),

        // MARK: Executables
        .executableTarget(name: "mmgs-frontend", dependencies: ["MMGSFrontEnd"], path: "Sources/Executables/mmgs-frontend", swiftSettings: swiftSettings),
        .executableTarget(name: "mmgs-router", dependencies: ["MMGSRouter"], path: "Sources/Executables/mmgs-router", swiftSettings: swiftSettings),
        .executableTarget(name: "mmgs-transport", dependencies: ["MMGSTransport"], path: "Sources/Executables/mmgs-transport", swiftSettings: swiftSettings),
        .executableTarget(name: "mmgs-topology", dependencies: ["Topology"], path: "Sources/Executables/mmgs-topology", swiftSettings: swiftSettings),
        .executableTarget(name: "mmgsctl", dependencies: ["AdminCLI", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Sources/Executables/mmgsctl", swiftSettings: swiftSettings),
        .executableTarget(name: "mmgs", dependencies: ["Launcher", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Sources/Executables/mmgs", swiftSettings: swiftSettings),
        .executableTarget(
            name: "mmgs-etunnel-bench",
            dependencies: ["ETunnel", log, .product(name: "Histogram", package: "hdrhistogram-swift"),
                           .product(name: "ArgumentParser", package: "swift-argument-parser")] + nio,
            path: "Sources/Executables/mmgs-etunnel-bench", swiftSettings: swiftSettings),

        .executableTarget(
            name: "mmgs-bench",
            dependencies: ["BenchKit", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/Executables/mmgs-bench", swiftSettings: swiftSettings),

        // MARK: Tests
        .target(name: "TestSupport", dependencies: ["ETunnel", log] + nio, path: "Tests/TestSupport", swiftSettings: swiftSettings),
        .testTarget(name: "ETunnelTests", dependencies: ["ETunnel", "TestSupport", .product(name: "NIOEmbedded", package: "swift-nio")] + nio, swiftSettings: swiftSettings),
        .testTarget(name: "PlacementTests", dependencies: ["Placement"], swiftSettings: swiftSettings),
        .testTarget(name: "MembershipTests", dependencies: ["Membership", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "SharedTests", dependencies: ["MMGSShared", "NodeRuntime"], swiftSettings: swiftSettings),
        .testTarget(name: "XMPPCoreTests", dependencies: ["XMPPCore", .product(name: "NIOCore", package: "swift-nio")], swiftSettings: swiftSettings),
        .testTarget(
            name: "BenchKitTests",
            dependencies: ["BenchKit", "XMPPCore", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings),
        .testTarget(name: "JournalTests", dependencies: ["Journal"], swiftSettings: swiftSettings),
        .testTarget(name: "FrontEndTests", dependencies: ["MMGSFrontEnd", .product(name: "NIOEmbedded", package: "swift-nio")] + nio, swiftSettings: swiftSettings),
        .testTarget(name: "RouterTests", dependencies: ["MMGSRouter", "StanzaRouting", .product(name: "NIOCore", package: "swift-nio")], swiftSettings: swiftSettings),
    ]
)
