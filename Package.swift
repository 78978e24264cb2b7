// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Octet",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "octet", targets: ["octet"]),
        .library(name: "Octet", targets: ["OctetTensor", "OctetGraph", "OctetRuntime", "OctetData", "OctetQuant"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
    ],
    targets: [
        .target(
            name: "ONNXProto",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        // C micro-kernels with run-time AVX2/FMA dispatch (no unsafeFlags).
        .target(name: "COctetKernels"),
        .target(
            name: "OctetTensor",
            dependencies: ["COctetKernels", .product(name: "ZIPFoundation", package: "ZIPFoundation")]
        ),
        .target(name: "OctetGraph", dependencies: ["OctetTensor", "ONNXProto"]),
        .target(name: "OctetRuntime", dependencies: ["OctetGraph", "COctetKernels"]),
        // Calibration and evaluation data: sources in every layout, validation, batching.
        .target(name: "OctetData", dependencies: ["OctetGraph", "OctetTensor", "COctetKernels"]),
        .target(name: "OctetQuant", dependencies: ["OctetGraph", "OctetRuntime", "OctetData", "COctetKernels"]),
        .target(
            name: "OctetCLI",
            dependencies: [
                "OctetGraph", "OctetTensor", "OctetRuntime", "OctetData", "OctetQuant", "COctetKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "octet", dependencies: ["OctetCLI"]),
        .target(name: "_OctetTestSupport", dependencies: ["OctetGraph", "OctetTensor"]),
        .testTarget(name: "OctetTensorTests", dependencies: ["OctetTensor", "COctetKernels", "_OctetTestSupport"]),
        .testTarget(name: "OctetDataTests", dependencies: ["OctetData", "OctetRuntime", "_OctetTestSupport"]),
        .testTarget(name: "OctetQuantTests", dependencies: ["OctetQuant", "OctetData", "OctetRuntime", "COctetKernels", "_OctetTestSupport"]),
        .testTarget(name: "OctetRuntimeTests", dependencies: ["OctetRuntime", "COctetKernels", "_OctetTestSupport"]),
        .testTarget(name: "OctetGraphTests", dependencies: ["OctetGraph", "ONNXProto", "_OctetTestSupport"]),
        // Depends on the executable so `swift test` builds the binary its end-to-end tests run.
        .testTarget(name: "OctetCLITests", dependencies: ["octet", "OctetGraph", "ONNXProto", "_OctetTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
