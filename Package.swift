// swift-tools-version:6.0
import PackageDescription

// No target sets unsafeFlags: SwiftPM refuses a product built with them when the package is a
// versioned dependency of another package (scripts/check-external-package.sh checks this).
// Release builds are -O with whole-module optimisation already; the hot loops work on buffer
// pointers, and CKernels sets its floating-point rules in its source (see kernels.c).

/// libzmq.pc's Requires.private pulls in krb5-gssapi's `-isystem /usr/include/mit-krb5`, which
/// SwiftPM drops with a "prohibited flag(s)" warning on every build. On Linux zmq.h is in the
/// default include path and the modulemap's `link "zmq"` is all the linker needs.
#if os(Linux)
let zeroMQPkgConfig: String? = nil
#else
let zeroMQPkgConfig: String? = "libzmq"
#endif

let package = Package(
    name: "emfleet",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "emfleet", targets: ["emfleet"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "Mixture", targets: ["Mixture"]),
        .library(name: "Neural", targets: ["Neural"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "DeepMixture", targets: ["DeepMixture"]),
        .library(name: "Cluster", targets: ["Cluster"]),
        .library(name: "Datasets", targets: ["Datasets"]),
        .library(name: "Numerics", targets: ["Numerics"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // Not used itself: Hummingbird's dependencies bring swift-numerics, whose `Numerics` module
        // would clash with this package's; depending on it lets its module be renamed (the Numerics
        // target below, which every product reaches, so the renaming holds in any package using emfleet).
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
    ],
    targets: [
        // MARK: - C libraries at the edge
        .systemLibrary(
            name: "CLAPACK",
            pkgConfig: "lapacke",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        .systemLibrary(
            name: "CZeroMQ",
            pkgConfig: zeroMQPkgConfig,
            providers: [.apt(["libzmq3-dev"])]
        ),

        // Element-wise hot loops in C, built for several instruction sets (not public API).
        .target(name: "CKernels"),

        // MARK: - Libraries
        .target(name: "Numerics", dependencies: [
            "CLAPACK", "CKernels",
            .product(name: "Numerics", package: "swift-numerics", moduleAliases: ["Numerics": "SwiftNumerics"]),
            .product(name: "Atomics", package: "swift-atomics"),
        ]),
        .target(name: "Datasets", dependencies: ["Numerics", "CKernels"]),
        // The job protocol, the shard tree, the byte codec and the in-process runner: what every job and the runtime share.
        .target(name: "Engine", dependencies: ["Datasets", "Numerics"]),
        // Models and their shard jobs.
        .target(name: "Mixture", dependencies: ["Engine", "Numerics", "Datasets"]),
        .target(name: "Neural", dependencies: ["Numerics", "CKernels"]),
        .target(name: "Training", dependencies: ["Engine", "Neural", "Mixture", "Datasets", "Numerics"]),
        // Models that join networks and mixtures in one loss (DAGMM).
        .target(name: "DeepMixture", dependencies: ["Engine", "Neural", "Training", "Mixture", "Datasets", "Numerics"]),
        .target(name: "Reports", dependencies: ["Mixture"]),
        // The distributed runtime: knows jobs only through Engine's protocol.
        .target(name: "Messaging", dependencies: ["CZeroMQ"]),
        .target(
            name: "Cluster",
            dependencies: ["Engine", "Messaging", "Datasets", "Numerics", "CKernels", .product(name: "Atomics", package: "swift-atomics")]),
        // The live status of a job: an HTTP server (page, JSON, Prometheus metrics) fed by the coordinator's observer.
        .target(
            name: "StatusServer",
            dependencies: [
                "Cluster",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: - Command-line front
        .executableTarget(
            name: "emfleet",
            dependencies: [
                "Cluster", "Engine", "Mixture", "Neural", "Training", "DeepMixture", "Datasets", "Numerics", "Messaging", "Reports", "StatusServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Fuzzers of the decoders and file readers (scripts/fuzz.sh builds them with libFuzzer).
        .executableTarget(name: "emfleet-fuzz", dependencies: ["Cluster", "Engine", "Mixture", "Training", "Neural", "Datasets", "DeepMixture"], path: "Sources/EmfleetFuzz"),

        // MARK: - Tests
        .testTarget(name: "NumericsTests", dependencies: ["Numerics"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Numerics"]),
        .testTarget(name: "MixtureTests", dependencies: ["Mixture", "Engine", "Datasets", "Numerics"]),
        .testTarget(name: "MessagingTests", dependencies: ["Messaging"]),
        .testTarget(name: "NeuralTests", dependencies: ["Neural", "Numerics"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Datasets", "Numerics"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "Engine", "Mixture", "Training", "Datasets", "Neural", "Numerics"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Engine", "Mixture", "Datasets", "Neural", "Numerics"]),
        .testTarget(name: "DeepMixtureTests", dependencies: ["DeepMixture", "Training", "Engine", "Cluster", "Datasets", "Mixture", "Neural", "Numerics"]),
        .testTarget(name: "StatusServerTests", dependencies: ["StatusServer", "Cluster", "Engine", "Mixture", "Datasets"]),
        .testTarget(name: "CLITests", dependencies: ["Datasets", "Mixture", "Messaging", "Cluster", "Training", "Engine", "DeepMixture"]),
    ],
    swiftLanguageModes: [.v6]
)
