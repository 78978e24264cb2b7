import Foundation
import OctetGraph

/// What the calibration data holds for one model input: types, shapes, value range.
public struct InputStatistics: Codable, Sendable, Equatable {
    /// Input name.
    public var name: String
    /// Element types found in the data (usually one).
    public var dtypes: [String]
    /// The model's element type for the input.
    public var modelDtype: String
    /// The model's declared shape.
    @EncodedAsNull public var modelShape: [Dim]?
    /// Smallest and largest size of each dimension across samples (after adding the batch axis).
    public var shapeRange: [[Int]]
    /// Smallest and largest finite value.
    @EncodedAsNull public var minimum: Double?
    /// Largest finite value.
    @EncodedAsNull public var maximum: Double?
    /// Samples that hold this input.
    public var samples: Int
    /// NaN and infinite values seen.
    public var nonFinite: Int
    /// Whether every sample of this input fits the model.
    public var matches: Bool

    mutating func record(dtype: DType, shape: [Int], values: [Double]?) {
        if !dtypes.contains(dtype.name) { dtypes.append(dtype.name) }
        if shapeRange.isEmpty || shapeRange.count != shape.count {
            if shapeRange.isEmpty { shapeRange = shape.map { [$0, $0] } }
        } else {
            for (axis, dim) in shape.enumerated() {
                shapeRange[axis][0] = min(shapeRange[axis][0], dim)
                shapeRange[axis][1] = max(shapeRange[axis][1], dim)
            }
        }
        samples += 1
        guard let values else { return }
        for value in values {
            if value.isFinite {
                minimum = Swift.min(minimum ?? value, value)
                maximum = Swift.max(maximum ?? value, value)
            } else {
                nonFinite += 1
            }
        }
    }

    /// Shape as text, a range where a dimension varies: `[1, 5–128]`.
    public var shapeText: String {
        "[" + shapeRange.map { $0[0] == $0[1] ? "\($0[0])" : "\($0[0])–\($0[1])" }.joined(separator: ", ") + "]"
    }
}
