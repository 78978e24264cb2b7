import OctetGraph
import Testing
import _OctetTestSupport
@testable import OctetRuntime

/// Transpose and Concat split over two threads (each chunk of output starting its own walk over
/// the inputs) against index-by-index references, for 4-, 8- and 2-byte elements.
struct LayoutTests {
    @Test(arguments: [[0, 3, 1, 2], [2, 1, 3, 0], [3, 2, 1, 0]])
    func chunksOverThreadsMatchTheReference(permutation: [Int]) throws {
        let saved = ThreadPool.threads
        ThreadPool.threads = 2
        defer { ThreadPool.threads = saved }
        let shape = [4, 9, 11, 97]
        let count = shape.reduce(1, *)
        let inputStrides = Layout.strides(shape)
        let outputShape = permutation.map { shape[$0] }
        let outputStrides = Layout.strides(outputShape)
        /// The input index of output element `index`.
        func source(_ index: Int) -> Int {
            var (flat, remainder) = (0, index)
            for axis in 0..<outputShape.count {
                flat += remainder / outputStrides[axis] * inputStrides[permutation[axis]]
                remainder %= outputStrides[axis]
            }
            return flat
        }
        let floats = (0..<count).map { Float($0) }
        let wide = (0..<count).map { Int64($0) * 3 }
        let half = try Tensor(shape: shape, scalars: (0..<count).map { Float($0 % 2048) }).converted(to: .float16)
        let gotFloats = try Layout.transpose(Tensor(shape: shape, scalars: floats), permutation)
        let gotWide = try Layout.transpose(Tensor(shape: shape, scalars: wide), permutation)
        let gotHalf = try Layout.transpose(half, permutation).converted(to: .float32).scalars(as: Float.self)
        #expect(gotFloats.shape == outputShape)
        #expect(gotFloats.scalars(as: Float.self) == (0..<count).map { floats[source($0)] })
        #expect(gotWide.scalars(as: Int64.self) == (0..<count).map { wide[source($0)] })
        #expect(gotHalf == (0..<count).map { Float(source($0) % 2048) })
    }

    /// Byte ranges that start and end inside the inputs' runs, over several blocks (axis 1 and 2
    /// of rank-3 inputs) and over one (axis 0).
    @Test(arguments: [0, 1, 2])
    func concatChunksOverThreadsMatchTheReference(axis: Int) throws {
        let saved = ThreadPool.threads
        ThreadPool.threads = 2
        defer { ThreadPool.threads = saved }
        let shapes: [[Int]] = [[5, 7, 301], [5, 7, 301], [5, 7, 301]].enumerated().map { index, shape in
            var shape = shape
            shape[axis] += [3, 0, 11][index]
            return shape
        }
        var next = 0
        let inputs = shapes.map { shape -> [Int64] in
            let count = shape.reduce(1, *)
            defer { next += count }
            return (next..<(next + count)).map { Int64($0) }
        }
        let got = try Layout.concat(zip(shapes, inputs).map { Tensor(shape: $0, scalars: $1) }, axis: axis)
        var outputShape = shapes[0]
        outputShape[axis] = shapes.map { $0[axis] }.reduce(0, +)
        #expect(got.shape == outputShape)
        // The reference: for each block of the leading axes, each input's slice in turn.
        let outer = outputShape[..<axis].reduce(1, *)
        var expected: [Int64] = []
        for block in 0..<outer {
            for (shape, values) in zip(shapes, inputs) {
                let run = shape[axis...].reduce(1, *)
                expected += values[(block * run)..<((block + 1) * run)]
            }
        }
        #expect(got.scalars(as: Int64.self) == expected)
        let floats = try Layout.concat(zip(shapes, inputs).map { Tensor(shape: $0, scalars: $1.map { Float($0) }) }, axis: axis)
        #expect(floats.scalars(as: Float.self) == expected.map { Float($0) })
    }
}
