"""Models that use the operators real exporters emit beyond the classic CNN/BERT set, built the
way those exporters write them (for the engine-breadth checks against ONNX Runtime)."""
import numpy as np
import onnx
from onnx import TensorProto, helper

from models import _Builder, _rng


def _info(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


def vit_patches(opset=17, seed=31, patch=4, dim=16, classes=5):
    """A ViT-style classifier whose export pads the image to a multiple of the patch size with
    `Mod` on the dynamic height and width (pad = (patch - size % patch) % patch), then embeds
    patches with a strided Conv, adds one attention layer and pools."""
    b = _Builder(opset, seed=seed)
    shape = b.op("Shape", ["images"])
    patch_const = b.const(np.array([patch], np.int64), "patch")
    pads = []
    for axis in (2, 3):
        size = b.op("Gather", [shape, b.const(np.array([axis], np.int64), "axis")], axis=0)
        remainder = b.op("Mod", [size, patch_const])
        pads.append(b.op("Mod", [b.op("Sub", [patch_const, remainder]), patch_const]))
    # Begin N, C, H, W = 0; end N, C = 0, then the H and W padding.
    all_pads = b.op("Concat", [b.const(np.zeros(2, np.int64), "z2"), b.const(np.zeros(2, np.int64), "z2b"),
                               b.const(np.zeros(2, np.int64), "z2c"), pads[0], pads[1]], axis=0)
    padded = b.op("Pad", ["images", all_pads], mode="constant")
    tokens = b.op("Conv", [padded, b.weight(dim, 3, patch, patch), b.weight(dim, scale=0.05)], kernel_shape=[patch, patch],
                  strides=[patch, patch])
    # [N, dim, h, w] → [N, h·w, dim]
    tokens = b.op("Reshape", [b.op("Transpose", [tokens], perm=[0, 2, 3, 1]), b.const(np.array([0, -1, dim], np.int64), "shape")])
    normed = b.op("LayerNormalization", [tokens, b.const(np.ones(dim, np.float32)), b.const(np.zeros(dim, np.float32))], axis=-1)
    q = b.op("MatMul", [normed, b.weight(dim, dim)])
    k = b.op("MatMul", [normed, b.weight(dim, dim)])
    v = b.op("MatMul", [normed, b.weight(dim, dim)])
    scores = b.op("Softmax", [b.op("Div", [b.op("MatMul", [q, b.op("Transpose", [k], perm=[0, 2, 1])]),
                                          b.const(np.array(np.sqrt(dim), np.float32))])], axis=-1)
    mixed = b.op("Add", [tokens, b.op("MatMul", [b.op("MatMul", [scores, v]), b.weight(dim, dim)])])
    pooled = b.op("ReduceMean", [mixed, b.const(np.array([1], np.int64), "axes")], keepdims=0) if opset >= 18 else \
        b.op("ReduceMean", [mixed], axes=[1], keepdims=0)
    b.op("Gemm", [pooled, b.weight(dim, classes), b.weight(classes, scale=0.05)], outputs=["logits"])
    return b.model([_info("images", TensorProto.FLOAT, ["N", 3, "H", "W"])], [_info("logits", TensorProto.FLOAT, ["N", classes])],
                   "vit_patches")


def roi_head(opset=16, seed=32, channels=8, classes=4, mode="avg"):
    """The second stage of a two-stage detector: backbone features (stride 4), RoiAlign of the
    proposals (half_pixel, 7×7, sampling ratio 2), two fully connected layers, class scores and
    box deltas per proposal."""
    b = _Builder(opset, seed=seed)
    x = b.op("Relu", [b.op("Conv", ["image", b.weight(channels, 3, 3, 3), b.weight(channels, scale=0.05)],
                           kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])])
    x = b.op("Relu", [b.op("Conv", [x, b.weight(channels, channels, 3, 3), b.weight(channels, scale=0.05)],
                           kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])])
    pooled = b.op("RoiAlign", [x, "rois", "batch_indices"], mode=mode, output_height=7, output_width=7, sampling_ratio=2,
                  spatial_scale=0.25, coordinate_transformation_mode="half_pixel")
    flat = b.op("Flatten", [pooled], axis=1)
    hidden = b.op("Relu", [b.op("Gemm", [flat, b.weight(channels * 49, 32, scale=0.05), b.weight(32, scale=0.05)])])
    b.op("Softmax", [b.op("Gemm", [hidden, b.weight(32, classes), b.weight(classes, scale=0.05)])], outputs=["scores"], axis=1)
    b.op("Gemm", [hidden, b.weight(32, 4 * classes), b.weight(4 * classes, scale=0.05)], outputs=["deltas"])
    return b.model([_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"]), _info("rois", TensorProto.FLOAT, ["R", 4]),
                    _info("batch_indices", TensorProto.INT64, ["R"])],
                   [_info("scores", TensorProto.FLOAT, ["R", classes]), _info("deltas", TensorProto.FLOAT, ["R", 4 * classes])],
                   "roi_head")


def max_roi_pool_head(opset=13, seed=38, channels=4):
    """Fast R-CNN's pooling: MaxRoiPool of proposals [batch index, x1, y1, x2, y2] over Conv
    features at stride 2, then a classifier."""
    b = _Builder(opset, seed=seed)
    x = b.op("Relu", [b.op("Conv", ["image", b.weight(channels, 3, 3, 3), b.weight(channels, scale=0.05)],
                           kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])])
    pooled = b.op("MaxRoiPool", [x, "rois"], pooled_shape=[3, 3], spatial_scale=0.5)
    b.op("Gemm", [b.op("Flatten", [pooled], axis=1), b.weight(channels * 9, 5), b.weight(5, scale=0.05)], outputs=["scores"])
    return b.model([_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"]), _info("rois", TensorProto.FLOAT, ["R", 5])],
                   [_info("scores", TensorProto.FLOAT, ["R", 5])], "max_roi_pool_head")


def spatial_transformer(opset=20, seed=33, mode="linear", padding="zeros", align_corners=0):
    """A spatial transformer network: a localisation branch predicts θ (identity plus a small
    learned offset), AffineGrid builds the sampling grid and GridSample warps the input before a
    Conv."""
    b = _Builder(opset, seed=seed)
    pooled = b.op("Flatten", [b.op("GlobalAveragePool", [b.op("Relu", [b.op("Conv", ["image", b.weight(4, 3, 3, 3)],
                                                                            kernel_shape=[3, 3], pads=[1, 1, 1, 1])])])], axis=1)
    identity = np.array([1, 0, 0, 0, 1, 0], np.float32)
    theta = b.op("Gemm", [pooled, b.weight(4, 6, scale=0.1), b.const(identity, "identity")])
    theta = b.op("Reshape", [theta, b.const(np.array([-1, 2, 3], np.int64), "shape")])
    size = b.op("Shape", ["image"])
    grid = b.op("AffineGrid", [theta, size], align_corners=align_corners)
    warped = b.op("GridSample", ["image", grid], mode=mode, padding_mode=padding, align_corners=align_corners)
    b.op("Conv", [warped, b.weight(6, 3, 3, 3), b.weight(6, scale=0.05)], outputs=["features"], kernel_shape=[3, 3],
         pads=[1, 1, 1, 1])
    return b.model([_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])], [_info("features", TensorProto.FLOAT, ["N", 6, "H", "W"])],
                   "spatial_transformer")


def audio_frontend(opset=17, seed=34, frame=64, hop=32, mels=16, sample_rate=8000):
    """A log-mel front-end as audio exporters write it: STFT with a Hann window (HannWindow op),
    power spectrum, a mel filter bank from MelWeightMatrix, log, then a small Conv1d encoder."""
    b = _Builder(opset, seed=seed)
    signal = b.unsqueeze("waveform", [2])  # [B, L, 1]
    window = b.op("HannWindow", [b.const(np.array(frame, np.int64), "frame")], periodic=1)
    spectrum = b.op("STFT", [signal, b.const(np.array(hop, np.int64), "hop"), window,
                             b.const(np.array(frame, np.int64), "frame_length")], onesided=1)  # [B, T, F, 2]
    power = b.op("ReduceSum", [b.op("Mul", [spectrum, spectrum]), b.const(np.array([3], np.int64), "axes")], keepdims=0)
    mel = b.op("MelWeightMatrix", [b.const(np.array(mels, np.int64), "mels"), b.const(np.array(frame, np.int64), "dft"),
                                   b.const(np.array(sample_rate, np.int64), "rate"), b.const(np.array(20.0, np.float32), "low"),
                                   b.const(np.array(sample_rate / 2, np.float32), "high")])
    features = b.op("Log", [b.op("Add", [b.op("MatMul", [power, mel]), b.const(np.array(1e-6, np.float32), "eps")])])
    frames = b.op("Transpose", [features], perm=[0, 2, 1])  # [B, mels, T]
    b.op("Relu", [b.op("Conv", [frames, b.weight(8, mels, 3, scale=0.1), b.weight(8, scale=0.05)], kernel_shape=[3],
                       pads=[1, 1])], outputs=["encoded"])
    return b.model([_info("waveform", TensorProto.FLOAT, ["B", "L"])], [_info("encoded", TensorProto.FLOAT, ["B", 8, "T"])],
                   "audio_frontend")


def decoder_block(opset=23, seed=35, hidden=32, q_heads=4, kv_heads=2, max_positions=64):
    """A Llama-style decoder block at opset 23: RMSNormalization, Q/K/V projections, RotaryEmbedding
    of Q and K from cos/sin caches by position id, causal grouped-query Attention, output
    projection, residual, RMSNormalization and a gated (SiLU) feed-forward."""
    b = _Builder(opset, seed=seed)
    head = hidden // q_heads
    normed = b.op("RMSNormalization", ["x", b.const(np.ones(hidden, np.float32) + 0.1 * b.rng.standard_normal(hidden).astype(np.float32))],
                  axis=-1, epsilon=1e-6)
    q = b.op("MatMul", [normed, b.weight(hidden, q_heads * head)])
    k = b.op("MatMul", [normed, b.weight(hidden, kv_heads * head)])
    v = b.op("MatMul", [normed, b.weight(hidden, kv_heads * head)])
    angles = np.arange(max_positions)[:, None] / (10000 ** (np.arange(head // 2) / (head // 2)))[None, :]
    cos = b.const(np.cos(angles).astype(np.float32), "cos")
    sin = b.const(np.sin(angles).astype(np.float32), "sin")
    q = b.op("RotaryEmbedding", [q, cos, sin, "position_ids"], num_heads=q_heads)
    k = b.op("RotaryEmbedding", [k, cos, sin, "position_ids"], num_heads=kv_heads)
    attended = b.op("Attention", [q, k, v], is_causal=1, q_num_heads=q_heads, kv_num_heads=kv_heads)
    x = b.op("Add", ["x", b.op("MatMul", [attended, b.weight(q_heads * head, hidden)])])
    normed = b.op("RMSNormalization", [x, b.const(np.ones(hidden, np.float32))], axis=-1, epsilon=1e-6)
    gate = b.op("MatMul", [normed, b.weight(hidden, 2 * hidden)])
    up = b.op("MatMul", [normed, b.weight(hidden, 2 * hidden)])
    activated = b.op("Mul", [b.op("Mul", [gate, b.op("Sigmoid", [gate])]), up])
    b.op("Add", [x, b.op("MatMul", [activated, b.weight(2 * hidden, hidden)])], outputs=["y"])
    return b.model([_info("x", TensorProto.FLOAT, ["B", "S", hidden]), _info("position_ids", TensorProto.INT64, ["B", "S"])],
                   [_info("y", TensorProto.FLOAT, ["B", "S", hidden])], "decoder_block", ir_version=10)


def scan_rnn(opset=17, seed=36, features=6, hidden=8):
    """A recurrent layer written with Scan (as older TensorFlow converters export RNNs): the body
    computes h = tanh(x·W + h·R + b) and emits h per step; a second Scan runs backwards."""
    rng = _rng(seed)
    w = (rng.standard_normal((features, hidden)) * 0.3).astype(np.float32)
    r = (rng.standard_normal((hidden, hidden)) * 0.3).astype(np.float32)
    bias = (rng.standard_normal(hidden) * 0.1).astype(np.float32)

    def body(name):
        nodes = [
            helper.make_node("Constant", [], ["W"], value=onnx.numpy_helper.from_array(w, "W")),
            helper.make_node("Constant", [], ["R"], value=onnx.numpy_helper.from_array(r, "R")),
            helper.make_node("Constant", [], ["bias"], value=onnx.numpy_helper.from_array(bias, "bias")),
            helper.make_node("MatMul", ["x_t", "W"], ["xw"]),
            helper.make_node("MatMul", ["h", "R"], ["hr"]),
            helper.make_node("Add", ["xw", "hr"], ["sum"]),
            helper.make_node("Add", ["sum", "bias"], ["pre"]),
            helper.make_node("Tanh", ["pre"], ["h_next"]),
            helper.make_node("Identity", ["h_next"], ["y_t"]),
        ]
        return helper.make_graph(nodes, name, [_info("h", TensorProto.FLOAT, ["N", hidden]), _info("x_t", TensorProto.FLOAT, ["N", features])],
                                 [_info("h_next", TensorProto.FLOAT, ["N", hidden]), _info("y_t", TensorProto.FLOAT, ["N", hidden])])

    nodes = [
        helper.make_node("Scan", ["h0", "sequence"], ["h_forward", "y_forward"], body=body("forward"), num_scan_inputs=1),
        helper.make_node("Scan", ["h0", "sequence"], ["h_backward", "y_backward"], body=body("backward"), num_scan_inputs=1,
                         scan_input_directions=[1], scan_output_directions=[1]),
        helper.make_node("Concat", ["y_forward", "y_backward"], ["y"], axis=2),
    ]
    graph = helper.make_graph(nodes, "scan_rnn", [_info("h0", TensorProto.FLOAT, ["N", hidden]), _info("sequence", TensorProto.FLOAT, ["T", "N", features])],
                              [_info("y", TensorProto.FLOAT, ["T", "N", 2 * hidden]), _info("h_forward", TensorProto.FLOAT, ["N", hidden]),
                               _info("h_backward", TensorProto.FLOAT, ["N", hidden])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="octet-tests")
    model.ir_version = 8
    return model


def breadth_models():
    """Name → (model, feed sets at two sizes)."""
    rng = _rng(37)

    def boxes(count, height, width):
        x0 = rng.uniform(0, width * 0.6, count)
        y0 = rng.uniform(0, height * 0.6, count)
        return np.stack([x0, y0, x0 + rng.uniform(4, width * 0.4, count), y0 + rng.uniform(4, height * 0.4, count)], 1).astype(np.float32)

    def image(n, h, w):
        return rng.standard_normal((n, 3, h, w)).astype(np.float32)

    def positions(batch, length, start=0):
        return np.tile(np.arange(start, start + length, dtype=np.int64), (batch, 1))

    result = {
        "vit_patches_mod": (vit_patches(), [{"images": image(1, 30, 29)}, {"images": image(2, 32, 20)}]),
        "roi_head_avg": (roi_head(), [
            {"image": image(1, 48, 64), "rois": boxes(5, 48, 64), "batch_indices": np.zeros(5, np.int64)},
            {"image": image(2, 40, 40), "rois": boxes(7, 40, 40), "batch_indices": np.array([0, 1, 1, 0, 1, 0, 1], np.int64)}]),
        "roi_head_max": (roi_head(mode="max"), [
            {"image": image(1, 48, 64), "rois": boxes(5, 48, 64), "batch_indices": np.zeros(5, np.int64)}]),
        "max_roi_pool_head": (max_roi_pool_head(), [
            {"image": image(1, 32, 40), "rois": np.concatenate([np.zeros((6, 1), np.float32), boxes(6, 32, 40)], 1)},
            {"image": image(2, 24, 24), "rois": np.concatenate([np.array([[0], [1], [1]], np.float32), boxes(3, 24, 24)], 1)}]),
        "spatial_transformer_linear": (spatial_transformer(), [{"image": image(1, 16, 20)}, {"image": image(2, 12, 12)}]),
        "spatial_transformer_cubic_border": (spatial_transformer(mode="cubic", padding="border", align_corners=1),
                                             [{"image": image(1, 16, 20)}]),
        "spatial_transformer_nearest_reflection": (spatial_transformer(mode="nearest", padding="reflection"),
                                                   [{"image": image(2, 10, 14)}]),
        "audio_frontend_stft_mel": (audio_frontend(), [{"waveform": rng.standard_normal((1, 800)).astype(np.float32)},
                                                       {"waveform": rng.standard_normal((2, 1000)).astype(np.float32)}]),
        "decoder_block_opset23": (decoder_block(), [
            {"x": rng.standard_normal((1, 6, 32)).astype(np.float32), "position_ids": positions(1, 6)},
            {"x": rng.standard_normal((2, 9, 32)).astype(np.float32), "position_ids": positions(2, 9, start=3)}]),
        "scan_rnn_bidirectional": (scan_rnn(), [
            {"h0": np.zeros((2, 8), np.float32), "sequence": rng.standard_normal((5, 2, 6)).astype(np.float32)},
            {"h0": rng.standard_normal((1, 8)).astype(np.float32), "sequence": rng.standard_normal((9, 1, 6)).astype(np.float32)}]),
    }
    return result
