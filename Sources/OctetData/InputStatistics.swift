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

    /// Records one sample's type and shape, and when `values` is given its finite range and
    /// non-finite count; returns that count (0 without values).
    @discardableResult
    mutating func record(dtype: DType, shape: [Int], values: Tensor?) -> Int {
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
        guard let values else { return 0 }
        var bad = 0
        var (low, high) = (minimum, maximum)
        let counted: Void? = try? values.forEachChunkOfDoubles { chunk in
            for value in chunk {
                if value.isFinite {
                    low = Swift.min(low ?? value, value)
                    high = Swift.max(high ?? value, value)
                } else {
                    bad += 1
                }
            }
        }
        guard counted != nil else { return 0 }
        (minimum, maximum) = (low, high)
        nonFinite += bad
        return bad
    }

    /// Shape as text, a range where a dimension varies: `[1, 5–128]`.
    public var shapeText: String {
        "[" + shapeRange.map { $0[0] == $0[1] ? "\($0[0])" : "\($0[0])–\($0[1])" }.joined(separator: ", ") + "]"
    }
}
