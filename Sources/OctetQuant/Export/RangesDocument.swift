import Foundation

/// The `--ranges-json` document: every tensor's range and the weights' per-channel maxima.
public struct RangesDocument: Codable, Sendable {
    /// Document format name.
    public var format = "octet-ranges"
    /// Format version.
    public var version = 1
    /// The model's path as given.
    public var model: String
    /// The model's ``ModelHash``.
    public var modelSHA256: String
    /// The range method.
    public var method: String
    /// Where the ranges came from: `calibration`, `stats files` or `cache`.
    public var source: String
    /// Activation ranges in graph order.
    public var tensors: [TensorRange]
    /// Weight maxima (empty when the ranges came from a cache).
    public var weights: [WeightStatistics]

    /// Creates a document.
    public init(model: String, modelSHA256: String, method: String, source: String, tensors: [TensorRange], weights: [WeightStatistics]) {
        self.model = model
        self.modelSHA256 = modelSHA256
        self.method = method
        self.source = source
        self.tensors = tensors
        self.weights = weights
    }
}
