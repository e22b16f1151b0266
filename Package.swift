// swift-tools-version:6.0
import PackageDescription

/// Hot numeric loops are compiled without bounds checks in release builds; every
/// index in them is derived from validated shapes.
let fastMath: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release))]

let package = Package(
    name: "emfleet",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "emfleet", targets: ["emfleet"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "Mixture", targets: ["Mixture"]),
        .library(name: "Neural", targets: ["Neural"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Cluster", targets: ["Cluster"]),
        .library(name: "Datasets", targets: ["Datasets"]),
        .library(name: "Numerics", targets: ["Numerics"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
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
            pkgConfig: "libzmq",
            providers: [.apt(["libzmq3-dev"])]
        ),

        // Element-wise hot loops in C, built for several instruction sets (not public API).
        .target(
            name: "CKernels",
            cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off"])]
        ),

        // MARK: - Libraries
        .target(name: "Numerics", dependencies: ["CLAPACK", "CKernels"], swiftSettings: fastMath),
        .target(name: "Datasets", dependencies: ["Numerics"], swiftSettings: fastMath),
        // The job protocol, the shard tree, the byte codec and the in-process runner: what every job and the runtime share.
        .target(name: "Engine", dependencies: ["Datasets", "Numerics"], swiftSettings: fastMath),
        // Models and their shard jobs.
        .target(name: "Mixture", dependencies: ["Engine", "Numerics", "Datasets"], swiftSettings: fastMath),
        .target(name: "Neural", dependencies: ["Numerics", "CKernels"], swiftSettings: fastMath),
        .target(name: "Training", dependencies: ["Engine", "Neural", "Mixture", "Datasets", "Numerics"], swiftSettings: fastMath),
        .target(name: "Reports", dependencies: ["Mixture"]),
        // The distributed runtime: knows jobs only through Engine's protocol.
        .target(name: "Messaging", dependencies: ["CZeroMQ"]),
        .target(name: "Cluster", dependencies: ["Engine", "Messaging", "Datasets", "Numerics"], swiftSettings: fastMath),

        // MARK: - Command-line front
        .executableTarget(
            name: "emfleet",
            dependencies: [
                "Cluster", "Engine", "Mixture", "Neural", "Training", "Datasets", "Numerics", "Messaging", "Reports",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Fuzzers of the decoders and file readers (scripts/fuzz.sh builds them with libFuzzer).
        .executableTarget(name: "emfleet-fuzz", dependencies: ["Cluster", "Engine", "Mixture", "Training", "Neural", "Datasets"], path: "Sources/EmfleetFuzz"),

        // MARK: - Tests
        .testTarget(name: "NumericsTests", dependencies: ["Numerics"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Numerics"]),
        .testTarget(name: "MixtureTests", dependencies: ["Mixture", "Engine", "Datasets", "Numerics"]),
        .testTarget(name: "MessagingTests", dependencies: ["Messaging"]),
        .testTarget(name: "NeuralTests", dependencies: ["Neural", "Numerics"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Datasets", "Numerics"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "Engine", "Mixture", "Training", "Datasets", "Neural", "Numerics"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Engine", "Mixture", "Datasets", "Neural", "Numerics"]),
        .testTarget(name: "CLITests", dependencies: ["Datasets", "Mixture", "Messaging", "Cluster", "Training", "Engine"]),
    ],
    swiftLanguageModes: [.v6]
)
