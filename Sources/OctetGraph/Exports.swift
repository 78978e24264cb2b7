// The graph IR speaks in OctetTensor's types (Tensor, DType); re-export them for its users.
@_exported import OctetTensor
