/// Registers every built-in kernel family.
enum StandardKernels {
    static func registerAll(in registry: inout OpRegistry) {
        ArithmeticKernels.register(in: &registry)
        ActivationKernels.register(in: &registry)
        ComparisonKernels.register(in: &registry)
        CastKernels.register(in: &registry)
        ShapeKernels.register(in: &registry)
        MovementKernels.register(in: &registry)
        ReductionKernels.register(in: &registry)
        IndexKernels.register(in: &registry)
        LinearKernels.register(in: &registry)
        ConvKernels.register(in: &registry)
        PoolKernels.register(in: &registry)
        NormalizationKernels.register(in: &registry)
        ControlFlowKernels.register(in: &registry)
        QuantizationKernels.register(in: &registry)
        ResizeKernels.register(in: &registry)
        RecurrentKernels.register(in: &registry)
        EinsumKernel.register(in: &registry)
        DetectionKernels.register(in: &registry)
        BitwiseKernels.register(in: &registry)
        FeatureNormalizationKernels.register(in: &registry)
        LossKernels.register(in: &registry)
        AttentionKernels.register(in: &registry)
        SelectionKernels.register(in: &registry)
        SignalKernels.register(in: &registry)
    }
}
