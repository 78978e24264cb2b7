import OctetGraph
import Testing
import _OctetTestSupport
@testable import OctetRuntime

/// Float32 Add/Sub/Mul/Div through the C kernel on broadcast patterns the row layouts cover and
/// on general ones (an attention mask [b, 1, 1, s] against [b, h, s, s]), against a scalar
/// reference computed from NumPy's broadcasting rule.
struct BroadcastTests {
    @Test(arguments: [([2, 3, 4, 5], [2, 1, 1, 5]), ([3, 1, 5], [1, 4, 1]), ([4, 1], [3]), ([2, 3, 4], [4]), ([5], [2, 1, 5])])
    func floatOperatorsMatchTheBroadcastingRule(left: [Int], right: [Int]) throws {
        let a = Tensor(shape: left, scalars: TestModels.randomFloats(left.reduce(1, *), seed: 3, scale: 2))
        let b = Tensor(shape: right, scalars: TestModels.randomFloats(right.reduce(1, *), seed: 4, scale: 2).map { $0 + 3 })
        let shape = try Broadcast.shape([left, right])
        let (x, y) = (a.scalars(as: Float.self), b.scalars(as: Float.self))
        let (aStrides, bStrides) = (Broadcast.strides(of: left, in: shape), Broadcast.strides(of: right, in: shape))
        let outputStrides = Layout.strides(shape)
        for (op, f) in [(Broadcast.FloatOperator.add, { (u: Float, v: Float) in u + v }), (.sub, { $0 - $1 }), (.mul, { $0 * $1 }), (.div, { $0 / $1 })] {
            let got = try Broadcast.floatBinary(a, b, op)
            #expect(got.shape == shape)
            let values = got.scalars(as: Float.self)
            for index in 0..<values.count {
                var (i, j, remainder) = (0, 0, index)
                for axis in 0..<shape.count {
                    let coordinate = remainder / outputStrides[axis]
                    remainder %= outputStrides[axis]
                    i += coordinate * aStrides[axis]
                    j += coordinate * bStrides[axis]
                }
                #expect(values[index] == f(x[i], y[j]), "\(op) \(left) \(right) at \(index)")
            }
        }
    }
}
