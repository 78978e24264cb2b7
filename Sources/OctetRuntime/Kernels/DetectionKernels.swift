import Foundation
import OctetGraph

/// NonMaxSuppression, as detectors exported with their post-processing use it.
enum DetectionKernels {
    /// Corners (y1, x1, y2, x2) of box `index`, from corner or center (`center_point_box`) form.
    static func corners(_ boxes: [Double], _ index: Int, center: Bool) -> (Double, Double, Double, Double) {
        let (a, b, c, d) = (boxes[4 * index], boxes[4 * index + 1], boxes[4 * index + 2], boxes[4 * index + 3])
        if center { return (b - d / 2, a - c / 2, b + d / 2, a + c / 2) }
        return (min(a, c), min(b, d), max(a, c), max(b, d))
    }

    static func intersectionOverUnion(_ p: (Double, Double, Double, Double), _ q: (Double, Double, Double, Double)) -> Double {
        let height = max(0, min(p.2, q.2) - max(p.0, q.0))
        let width = max(0, min(p.3, q.3) - max(p.1, q.1))
        let intersection = height * width
        let union = (p.2 - p.0) * (p.3 - p.1) + (q.2 - q.0) * (q.3 - q.1) - intersection
        return union > 0 ? intersection / union : 0
    }

    static func nonMaxSuppression(_ context: KernelContext) throws -> Tensor {
        let boxes = try context.input(0)
        let scores = try context.input(1)
        guard boxes.rank == 3, boxes.shape[2] == 4, scores.rank == 3, scores.shape[0] == boxes.shape[0],
              scores.shape[2] == boxes.shape[1] else {
            throw KernelError("boxes must be [batch, boxes, 4] and scores [batch, classes, boxes]")
        }
        let limit = try context.optionalInput(2)?.integers().first ?? 0
        let iouThreshold = try context.optionalInput(3)?.doubles().first ?? 0
        let scoreThreshold = try context.optionalInput(4)?.doubles().first
        let center = context.int("center_point_box", 0) != 0
        let (batches, classes, count) = (scores.shape[0], scores.shape[1], scores.shape[2])
        let boxValues = try boxes.doubles()
        let scoreValues = try scores.doubles()
        var selected: [Int64] = []
        for batch in 0..<batches {
            let batchBoxes = Array(boxValues[(batch * count * 4)..<((batch + 1) * count * 4)])
            for classIndex in 0..<classes where limit > 0 {
                let base = (batch * classes + classIndex) * count
                // Highest score first; equal scores keep the lower box index first.
                var candidates: [Int] = []
                for index in 0..<count where scoreThreshold.map({ scoreValues[base + index] > $0 }) ?? true {
                    candidates.append(index)
                }
                candidates.sort { first, second in
                    let (a, b) = (scoreValues[base + first], scoreValues[base + second])
                    return a != b ? a > b : first < second
                }
                var kept: [Int] = []
                for candidate in candidates where kept.count < limit {
                    let box = corners(batchBoxes, candidate, center: center)
                    if kept.allSatisfy({ intersectionOverUnion(corners(batchBoxes, $0, center: center), box) <= iouThreshold }) {
                        kept.append(candidate)
                    }
                }
                for index in kept { selected += [Int64(batch), Int64(classIndex), Int64(index)] }
            }
        }
        return Tensor(shape: [selected.count / 3, 3], scalars: selected)
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("NonMaxSuppression") { [try nonMaxSuppression($0)] }
    }
}
