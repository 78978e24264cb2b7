import Foundation

/// A node's window geometry (``ConvGeometry``) for the input and kernel shapes of its last run,
/// reused while they stay the same: the attributes are read and checked once per shape instead
/// of on every run. Held by the plan's prepared values; safe to use from concurrent runs.
final class GeometryCache: @unchecked Sendable {
    private let lock = NSLock()
    private var input: [Int] = []
    private var kernel: [Int] = []
    private var geometry: ConvGeometry?

    /// The geometry for spatial input sizes `input` and kernel sizes `kernel`, made by `make`
    /// when either differs from the last call's.
    func geometry(input: ArraySlice<Int>, kernel: [Int], _ make: () throws -> ConvGeometry) rethrows -> ConvGeometry {
        lock.lock()
        defer { lock.unlock() }
        if let geometry, self.kernel == kernel, self.input.elementsEqual(input) { return geometry }
        let made = try make()
        (self.input, self.kernel, geometry) = (Array(input), kernel, made)
        return made
    }
}
