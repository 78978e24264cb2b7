import Foundation
import OctetGraph

/// Equal, Greater(OrEqual), Less(OrEqual), Not, And, Or, Xor, Where, IsNaN, IsInf.
enum ComparisonKernels {
    struct Compare: NumberOperation {
        let a: Tensor
        let b: Tensor
        let test: Test
        enum Test { case equal, greater, greaterOrEqual, less, lessOrEqual }
        func callAsFunction<T: KernelNumber>(_ type: T.Type) throws -> Tensor {
            switch test {
            case .equal: try Broadcast.binary(a, b, as: T.self, T.self, into: Bool.self) { $0 == $1 }
            case .greater: try Broadcast.binary(a, b, as: T.self, T.self, into: Bool.self) { $0 > $1 }
            case .greaterOrEqual: try Broadcast.binary(a, b, as: T.self, T.self, into: Bool.self) { $0 >= $1 }
            case .less: try Broadcast.binary(a, b, as: T.self, T.self, into: Bool.self) { $0 < $1 }
            case .lessOrEqual: try Broadcast.binary(a, b, as: T.self, T.self, into: Bool.self) { $0 <= $1 }
            }
        }
    }

    static func compare(_ context: KernelContext, _ test: Compare.Test) throws -> [Tensor] {
        var a = try context.input(0)
        var b = try context.input(1)
        guard a.dtype == b.dtype else { throw KernelError("input types differ: \(a.dtype) and \(b.dtype)") }
        if a.dtype == .bool {
            a = try a.converted(to: .uint8)
            b = try b.converted(to: .uint8)
        } else if a.dtype == .float16 || a.dtype == .bfloat16 {
            a = try a.converted(to: .float32)
            b = try b.converted(to: .float32)
        }
        if a.dtype == .string {
            guard test == .equal else { throw KernelError("strings can only be compared for equality") }
            let shape = try Broadcast.shape([a.shape, b.shape])
            let left = Broadcast.expandStrings(a, to: shape)
            let right = Broadcast.expandStrings(b, to: shape)
            return [Tensor(shape: shape, scalars: zip(left, right).map { $0 == $1 })]
        }
        return [try Dispatch.number(a.dtype, Compare(a: a, b: b, test: test))]
    }

    static func logical(_ context: KernelContext, _ f: (Bool, Bool) -> Bool) throws -> [Tensor] {
        let (a, b) = (try context.input(0), try context.input(1))
        guard a.dtype == .bool, b.dtype == .bool else { throw KernelError("inputs must be bool, got \(a.dtype) and \(b.dtype)") }
        return [try Broadcast.binary(a, b, as: Bool.self, Bool.self, into: Bool.self, f)]
    }

    /// Where(condition, x, y) for any fixed-size element type.
    static func select(_ context: KernelContext) throws -> [Tensor] {
        let condition = try context.input(0)
        let x = try context.input(1)
        let y = try context.input(2)
        guard x.dtype == y.dtype else { throw KernelError("X and Y types differ: \(x.dtype) and \(y.dtype)") }
        guard condition.dtype == .bool else { throw KernelError("the condition must be bool, got \(condition.dtype)") }
        let shape = try Broadcast.shape([condition.shape, x.shape, y.shape])
        let size = x.elementSize
        guard size > 0 else { throw KernelError("\(x.dtype) tensors are not supported by Where") }
        return [condition.withElements(as: Bool.self) { flags in
            x.withUnsafeBytes { xs in
                y.withUnsafeBytes { ys in
                    Tensor.build(dtype: x.dtype, shape: shape) { out in
                        guard let base = out.baseAddress, let xBase = xs.baseAddress, let yBase = ys.baseAddress else { return }
                        Broadcast.forEachRow(output: shape, inputs: [condition.shape, x.shape, y.shape]) { start, starts, steps, count in
                            var (ic, ix, iy) = (starts[0], starts[1], starts[2])
                            for i in start..<start + count {
                                let source = flags[ic] ? xBase + ix * size : yBase + iy * size
                                (base + i * size).copyMemory(from: source, byteCount: size)
                                ic += steps[0]
                                ix += steps[1]
                                iy += steps[2]
                            }
                        }
                    }
                }
            }
        }]
    }

    static func floatTest(_ context: KernelContext, _ test: @escaping (Double) -> Bool) throws -> [Tensor] {
        let values = try context.input(0).doubles()
        return [Tensor(shape: try context.input(0).shape, scalars: values.map(test))]
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("Equal") { try compare($0, .equal) }
        registry.register("Greater") { try compare($0, .greater) }
        registry.register("GreaterOrEqual") { try compare($0, .greaterOrEqual) }
        registry.register("Less") { try compare($0, .less) }
        registry.register("LessOrEqual") { try compare($0, .lessOrEqual) }
        registry.register("And") { try logical($0) { $0 && $1 } }
        registry.register("Or") { try logical($0) { $0 || $1 } }
        registry.register("Xor") { try logical($0) { $0 != $1 } }
        registry.register("Not") { context in
            let input = try context.input(0)
            guard input.dtype == .bool else { throw KernelError("the input must be bool, got \(input.dtype)") }
            return [input.withElements(as: Bool.self) { x in Tensor.build(Bool.self, shape: input.shape) { out in
                for i in 0..<out.count { out[i] = !x[i] }
            } }]
        }
        registry.register("Where") { try select($0) }
        registry.register("IsNaN") { try floatTest($0) { $0.isNaN } }
        registry.register("IsInf") { context in
            let positive = context.int("detect_positive", 1) != 0
            let negative = context.int("detect_negative", 1) != 0
            return try floatTest(context) { $0.isInfinite && ($0 > 0 ? positive : negative) }
        }
    }
}

extension Broadcast {
    /// String elements of `source` broadcast to `shape`.
    static func expandStrings(_ source: Tensor, to shape: [Int]) -> [Data] {
        var result = [Data](repeating: Data(), count: shape.reduce(1, *))
        forEachRow(output: shape, inputs: [source.shape]) { start, starts, steps, count in
            for i in 0..<count { result[start + i] = source.strings[starts[0] + i * steps[0]] }
        }
        return result
    }
}
