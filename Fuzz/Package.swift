// swift-tools-version:6.0
// libFuzzer targets for Octet's readers and engine, kept out of the main package so normal
// builds are untouched. Build and run with `scripts/fuzz` (see Fuzz/README.md).
import PackageDescription

let package = Package(
    name: "OctetFuzz",
    dependencies: [.package(name: "Octet", path: "..")],
    targets: [
        .executableTarget(name: "octet-fuzz", dependencies: [.product(name: "Octet", package: "Octet")]),
    ],
    swiftLanguageModes: [.v6]
)
