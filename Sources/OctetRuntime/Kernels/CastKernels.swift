import Foundation
import OctetGraph

/// Cast, CastLike, Identity, Dropout (inference: identity and an all-true mask).
enum CastKernels {
    static func cast(_ input: Tensor, to code: Int) throws -> Tensor {
        guard let target = DType(onnxCode: Int32(code)) else { throw KernelError("unknown target type code \(code)") }
        return try input.converted(to: target)
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("Cast") { context in [try cast(context.input(0), to: context.int("to", 0))] }
        registry.register("CastLike") { context in [try context.input(0).converted(to: context.input(1).dtype)] }
        registry.register("Identity") { context in [try context.input(0)] }
        registry.register("Dropout") { context in
            let input = try context.input(0)
            return [input, Tensor(shape: input.shape, scalars: [Bool](repeating: true, count: input.elementCount))]
        }
    }
}
