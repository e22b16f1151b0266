// swift-tools-version:6.0
import PackageDescription

// A package of someone else's that uses emfleet's libraries by version, as any dependency.
// scripts/check-external-package.sh builds and runs it against a tagged local clone of this
// repository (a SwiftPM mirror of the URL below), which shows that SwiftPM accepts emfleet as a
// versioned dependency: it refuses products built with unsafe flags.
let package = Package(
    name: "external-package",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/emfleet/emfleet", from: "0.3.0"),
    ],
    targets: [
        .executableTarget(
            name: "FitMixture",
            dependencies: [
                .product(name: "Mixture", package: "emfleet"),
                .product(name: "Datasets", package: "emfleet"),
                .product(name: "Numerics", package: "emfleet"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
