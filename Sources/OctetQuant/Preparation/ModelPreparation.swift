import Foundation
import OctetGraph

/// Everything done to a model before Q/DQ placement, in order: `Constant` nodes become
/// initializers, the opset is raised to 13 (per-channel Q/DQ needs it), nodes computing only
/// from constants are folded, and BatchNormalization after Conv is folded into the Conv. Each
/// step keeps the FP32 function.
public enum ModelPreparation {
    /// What preparation changed, for reports.
    public struct Report: Sendable, Equatable {
        /// `Constant` nodes that became initializers.
        public var constantsMoved = 0
        /// The default-domain opset before and after.
        public var opset: (from: Int64?, to: Int64?) = (nil, nil)
        /// Labels of the nodes computed from constants and replaced by initializers.
        public var foldedConstants: [String] = []
        /// Labels of the BatchNormalization nodes folded into their Conv.
        public var foldedBatchNorms: [String] = []

        public static func == (lhs: Report, rhs: Report) -> Bool {
            lhs.constantsMoved == rhs.constantsMoved && lhs.opset.from == rhs.opset.from && lhs.opset.to == rhs.opset.to
                && lhs.foldedConstants == rhs.foldedConstants && lhs.foldedBatchNorms == rhs.foldedBatchNorms
        }
    }

    /// The prepared model and what changed.
    /// - Parameters:
    ///   - model: a validated model.
    ///   - foldBatchNorm: fold BatchNormalization into a preceding Conv.
    /// - Throws: ``OpsetUpgrade/UpgradeError`` naming the opset or node that cannot be upgraded.
    public static func prepare(_ model: Model, foldBatchNorm: Bool = true) throws -> (model: Model, report: Report) {
        var report = Report()
        report.opset.from = model.opsetVersion(for: "")
        var editor = GraphEditor(model.graph)
        report.constantsMoved = ConstantsToInitializers.apply(&editor)
        var prepared = model
        prepared.graph = editor.graph
        prepared = try OpsetUpgrade.upgrade(prepared)
        editor = GraphEditor(prepared.graph)
        report.foldedConstants = ConstantFolding.apply(&editor, model: prepared)
        if foldBatchNorm { report.foldedBatchNorms = FoldBatchNormalization.apply(&editor) }
        prepared.graph = editor.graph
        report.opset.to = prepared.opsetVersion(for: "")
        return (prepared, report)
    }
}
