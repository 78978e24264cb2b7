import OctetGraph
import Testing
import _OctetTestSupport
@testable import OctetRuntime

/// Transpose split over two threads (each chunk of output rows starting its own walk over the
/// input) against an index-by-index reference, for 4-, 8- and 2-byte elements.
struct TransposeTests {
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
}
