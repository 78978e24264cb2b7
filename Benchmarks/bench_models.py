"""Benchmark models at realistic sizes, written with onnx.helper (Interop/models.py's builder).

Weights are He-initialized and every convolution is followed by BatchNormalization with
near-identity statistics (or LayerNorm in the transformer-style models), so activations keep
the spread of trained networks rather than vanishing or exploding. Channel widths, depths and
input sizes follow the published architectures closely enough for the FLOPs and memory traffic
to match; exact layer configurations are simplified where the difference does not change the
kernels the engine runs.
"""
import numpy as np
from onnx import TensorProto, helper

import models
from models import _Builder, _bn, _conv, _hard_swish, _resize


def _images(name, n, h, w, c=3):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [n, c, h, w])


def _out(name, *shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def _cbr(b, x, c_in, c_out, k=3, stride=1, group=1, act="relu"):
    """Conv → BatchNormalization → activation. Without an activation (a block's projection)
    the BN scale is about 0.2, as in trained residual networks, so residual sums stay O(1)."""
    y = _conv(b, x, c_in, c_out, k=k, stride=stride, group=group, bias=False)
    if act is None:
        gamma = b.const((0.2 * (1 + 0.1 * b.rng.standard_normal(c_out))).astype(np.float32))
        return b.op("BatchNormalization", [y, gamma, b.weight(c_out, scale=0.05), b.weight(c_out, scale=0.1),
                                           b.const((0.5 + b.rng.random(c_out)).astype(np.float32))])
    y = _bn(b, y, c_out)
    if act == "relu":
        return b.op("Relu", [y])
    if act == "hswish":
        return _hard_swish(b, y)
    if act == "silu":
        return b.op("Mul", [y, b.op("Sigmoid", [y])])
    return y


def _squeeze_excite(b, x, c, squeezed, gate="hsigmoid", act="relu"):
    s = b.op("GlobalAveragePool", [x])
    s = _conv(b, s, c, squeezed, k=1)
    s = b.op("Relu", [s]) if act == "relu" else b.op("Mul", [s, b.op("Sigmoid", [s])])
    s = _conv(b, s, squeezed, c, k=1)
    s = b.op("HardSigmoid", [s], alpha=1 / 6, beta=0.5) if gate == "hsigmoid" else b.op("Sigmoid", [s])
    return b.op("Mul", [x, s])


def _classifier(b, x, c, classes, name="logits"):
    x = b.op("Flatten", [b.op("GlobalAveragePool", [x])], axis=1)
    return b.op("Gemm", [x, b.weight(classes, c, scale=(1 / c) ** 0.5), b.weight(classes, scale=0.01)], outputs=[name], transB=1)


def resnet50(seed=31):
    """ResNet-50: 7×7 stem, bottleneck stages [3, 4, 6, 3] (64–2048 channels), GAP, FC 1000."""
    b = _Builder(17, seed=seed)
    x = _cbr(b, "images", 3, 64, k=7, stride=2)
    x = b.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    c_in = 64
    for stage, (blocks, width) in enumerate(zip([3, 4, 6, 3], [64, 128, 256, 512])):
        for block in range(blocks):
            stride = 2 if block == 0 and stage > 0 else 1
            y = _cbr(b, x, c_in, width, k=1)
            y = _cbr(b, y, width, width, k=3, stride=stride)
            y = _cbr(b, y, width, 4 * width, k=1, act=None)
            shortcut = _cbr(b, x, c_in, 4 * width, k=1, stride=stride, act=None) if block == 0 else x
            x = b.op("Relu", [b.op("Add", [y, shortcut])])
            c_in = 4 * width
    _classifier(b, x, 2048, 1000)
    return b.model([_images("images", "N", 224, 224)], [_out("logits", "N", 1000)], "resnet50")


def mobilenet_v3_large(seed=32):
    """MobileNetV3-Large: 15 inverted-residual blocks (depthwise 3×3/5×5, HardSwish, SE)."""
    b = _Builder(17, seed=seed)
    x = _cbr(b, "images", 3, 16, stride=2, act="hswish")
    config = [(3, 16, 16, False, "relu", 1), (3, 64, 24, False, "relu", 2), (3, 72, 24, False, "relu", 1),
              (5, 72, 40, True, "relu", 2), (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1),
              (3, 240, 80, False, "hswish", 2), (3, 200, 80, False, "hswish", 1), (3, 184, 80, False, "hswish", 1),
              (3, 184, 80, False, "hswish", 1), (3, 480, 112, True, "hswish", 1), (3, 672, 112, True, "hswish", 1),
              (5, 672, 160, True, "hswish", 2), (5, 960, 160, True, "hswish", 1), (5, 960, 160, True, "hswish", 1)]
    c_in = 16
    for k, expanded, c_out, se, act, stride in config:
        y = _cbr(b, x, c_in, expanded, k=1, act=act) if expanded != c_in else x
        y = _cbr(b, y, expanded, expanded, k=k, stride=stride, group=expanded, act=act)
        if se:
            y = _squeeze_excite(b, y, expanded, max(8, expanded // 4))
        y = _cbr(b, y, expanded, c_out, k=1, act=None)
        x = b.op("Add", [y, x]) if stride == 1 and c_in == c_out else y
        c_in = c_out
    x = _cbr(b, x, 160, 960, k=1, act="hswish")
    x = b.op("GlobalAveragePool", [x])
    x = _hard_swish(b, _conv(b, x, 960, 1280, k=1))
    _classifier(b, x, 1280, 1000)
    return b.model([_images("images", "N", 224, 224)], [_out("logits", "N", 1000)], "mobilenet_v3_large")


def efficientnet_b0(seed=33):
    """EfficientNet-B0: MBConv stages with SiLU (Sigmoid · x) and sigmoid-gated SE."""
    b = _Builder(17, seed=seed)
    x = _cbr(b, "images", 3, 32, stride=2, act="silu")
    c_in = 32
    for expand, k, stride, c_out, repeats in [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                                              (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]:
        for repeat in range(repeats):
            s = stride if repeat == 0 else 1
            expanded = c_in * expand
            y = _cbr(b, x, c_in, expanded, k=1, act="silu") if expand != 1 else x
            y = _cbr(b, y, expanded, expanded, k=k, stride=s, group=expanded, act="silu")
            y = _squeeze_excite(b, y, expanded, max(1, c_in // 4), gate="sigmoid", act="silu")
            y = _cbr(b, y, expanded, c_out, k=1, act=None)
            x = b.op("Add", [y, x]) if s == 1 and c_in == c_out else y
            c_in = c_out
    x = _cbr(b, x, 320, 1280, k=1, act="silu")
    _classifier(b, x, 1280, 1000)
    return b.model([_images("images", "N", 224, 224)], [_out("logits", "N", 1000)], "efficientnet_b0")


def _layer_norm_channels_last(b, x, c):
    gamma = b.const((1 + 0.05 * b.rng.standard_normal(c)).astype(np.float32), "gamma")
    beta = b.const((0.05 * b.rng.standard_normal(c)).astype(np.float32), "beta")
    return b.op("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=1e-6)


def _gelu(b, x):
    erf = b.op("Erf", [b.op("Div", [x, b.const(np.array(np.sqrt(2), np.float32))])])
    return b.op("Mul", [b.op("Mul", [x, b.op("Add", [erf, b.const(np.array(1, np.float32))])]), b.const(np.array(0.5, np.float32))])


def convnext_tiny(seed=34, depths=(3, 3, 9, 3), dims=(96, 192, 384, 768)):
    """ConvNeXt-T as exported: 4×4 patchify stem, blocks of 7×7 depthwise Conv → Transpose to
    channels-last → LayerNorm → MatMul 4C → GELU (Erf) → MatMul C → layer scale → Transpose
    back → residual Add; LayerNorm + strided 2×2 Conv between stages."""
    b = _Builder(17, seed=seed)
    x = _conv(b, "images", 3, dims[0], k=4, stride=4)
    x = b.op("Transpose", [_layer_norm_channels_last(b, b.op("Transpose", [x], perm=[0, 2, 3, 1]), dims[0])], perm=[0, 3, 1, 2])
    for stage, (depth, c) in enumerate(zip(depths, dims)):
        if stage > 0:
            x = b.op("Transpose", [_layer_norm_channels_last(b, b.op("Transpose", [x], perm=[0, 2, 3, 1]), dims[stage - 1])],
                     perm=[0, 3, 1, 2])
            x = _conv(b, x, dims[stage - 1], c, k=2, stride=2)
        for _ in range(depth):
            y = b.op("Conv", [x, b.weight(c, 1, 7, 7, scale=(2 / 49) ** 0.5), b.weight(c, scale=0.05)],
                     kernel_shape=[7, 7], pads=[3, 3, 3, 3], group=c)
            y = _layer_norm_channels_last(b, b.op("Transpose", [y], perm=[0, 2, 3, 1]), c)
            y = b.op("Add", [b.op("MatMul", [y, b.weight(c, 4 * c, scale=(2 / c) ** 0.5)]), b.weight(4 * c, scale=0.02)])
            y = _gelu(b, y)
            y = b.op("Add", [b.op("MatMul", [y, b.weight(4 * c, c, scale=(1 / (4 * c)) ** 0.5)]), b.weight(c, scale=0.02)])
            y = b.op("Mul", [y, b.const(np.full(c, 0.5, np.float32), "layer_scale")])
            x = b.op("Add", [x, b.op("Transpose", [y], perm=[0, 3, 1, 2])])
    _classifier(b, x, dims[-1], 1000)
    return b.model([_images("images", "N", 224, 224)], [_out("logits", "N", 1000)], "convnext_tiny")


def db_text_detector(seed=35):
    """A DB-style text detector at 640²: MobileNet-like depthwise-separable backbone (strides
    4–32), FPN with nearest Resize and Add, Concat of the four upsampled maps, and a head of
    Conv → BN → ReLU → ConvTranspose ×2 → Sigmoid (probability map at full size)."""
    b = _Builder(17, seed=seed)
    x = _cbr(b, "images", 3, 16, stride=2, act="hswish")
    features, c_in = [], 16
    for c_out, stride, repeats in [(24, 2, 2), (40, 2, 3), (80, 2, 4), (160, 2, 3)]:
        for r in range(repeats):
            s = stride if r == 0 else 1
            y = _cbr(b, x, c_in, c_in, k=3, stride=s, group=c_in, act="hswish")
            y = _cbr(b, y, c_in, c_out, k=1, act="hswish")
            x = b.op("Add", [y, x]) if s == 1 and c_in == c_out else y
            c_in = c_out
        features.append((x, c_out))
    inner = [_conv(b, f, c, 96, k=1, bias=False) for f, c in features]
    for i in range(3, 0, -1):
        inner[i - 1] = b.op("Add", [inner[i - 1], _resize(b, inner[i])])
    outs = [_conv(b, f, 96, 24, k=3, bias=False) for f in inner]
    outs = [outs[0]] + [_resize(b, o, scale=2.0 ** i) for i, o in enumerate(outs[1:], start=1)]
    fused = b.op("Concat", outs, axis=1)
    y = _cbr(b, fused, 96, 24, k=3)
    y = b.op("Relu", [_bn(b, b.op("ConvTranspose", [y, b.weight(24, 24, 2, 2, scale=0.2), b.weight(24, scale=0.02)],
                                  kernel_shape=[2, 2], strides=[2, 2]), 24)])
    y = b.op("ConvTranspose", [y, b.weight(24, 1, 2, 2, scale=0.2), b.weight(1, scale=0.02)], kernel_shape=[2, 2], strides=[2, 2])
    b.op("Sigmoid", [y], outputs=["probability"])
    return b.model([_images("images", "N", 640, 640)], [_out("probability", "N", 1, 640, 640)], "db_text_detector")


def crnn_recognizer(seed=36, classes=97):
    """A CRNN text recognizer at 48×320: VGG-style Conv/BN/ReLU stack pooling height to 1,
    two bidirectional LSTM layers (hidden 128) over the 80 columns, per-step classifier."""
    b = _Builder(17, seed=seed)
    x, c_in = "image", 3
    for c_out, pool in [(64, (2, 2)), (128, (2, 2)), (256, None), (256, (2, 1)), (512, None), (512, (3, 1))]:
        x = _cbr(b, x, c_in, c_out)
        if pool:
            x = b.op("MaxPool", [x], kernel_shape=list(pool), strides=list(pool))
        c_in = c_out
    # [N, 512, 2, 80] → average the two rows → [80, N, 512]
    x = b.op("ReduceMean", [x], axes=[2], keepdims=0)
    x = b.op("Transpose", [x], perm=[2, 0, 1])
    hidden, features = 128, 512
    for _ in range(2):
        w = b.weight(2, 4 * hidden, features, scale=(1 / features) ** 0.5)
        r = b.weight(2, 4 * hidden, hidden, scale=(1 / hidden) ** 0.5)
        bias = b.weight(2, 8 * hidden, scale=0.02)
        y = b.op("LSTM", [x, w, r, bias], outputs=[b.fresh("lstm_y")], hidden_size=hidden, direction="bidirectional")
        y = b.op("Transpose", [y], perm=[0, 2, 1, 3])
        x = b.op("Reshape", [y, b.const(np.array([0, 0, 2 * hidden], np.int64), "shape")])
        features = 2 * hidden
    logits = b.op("Add", [b.op("MatMul", [x, b.weight(features, classes, scale=(1 / features) ** 0.5)]), b.weight(classes, scale=0.01)])
    b.op("LogSoftmax", [logits], outputs=["log_probs"], axis=2)
    return b.model([_images("image", "N", 48, 320)], [_out("log_probs", 80, "N", classes)], "crnn_recognizer")


def yolo_detector(seed=37, classes=80):
    """A YOLOv5s-style detector at 640²: CSP stages with SiLU, SPPF, a PAN neck with Resize and
    Concat, and three detect heads reshaped, sigmoid-activated and concatenated."""
    b = _Builder(17, seed=seed)

    def c3(x, c_in, c_out, n, shortcut=True):
        half = c_out // 2
        a = _cbr(b, x, c_in, half, k=1, act="silu")
        for _ in range(n):
            y = _cbr(b, _cbr(b, a, half, half, k=1, act="silu"), half, half, k=3, act="silu")
            a = b.op("Add", [a, y]) if shortcut else y
        skip = _cbr(b, x, c_in, half, k=1, act="silu")
        return _cbr(b, b.op("Concat", [a, skip], axis=1), c_out, c_out, k=1, act="silu")

    x = _cbr(b, "images", 3, 32, k=6 - 1, stride=2, act="silu")
    x = _cbr(b, x, 32, 64, stride=2, act="silu")
    x = c3(x, 64, 64, 1)
    p3 = c3(_cbr(b, x, 64, 128, stride=2, act="silu"), 128, 128, 2)
    p4 = c3(_cbr(b, p3, 128, 256, stride=2, act="silu"), 256, 256, 3)
    p5 = c3(_cbr(b, p4, 256, 512, stride=2, act="silu"), 512, 512, 1)
    y = _cbr(b, p5, 512, 256, k=1, act="silu")
    pools = [y]
    for _ in range(3):
        pools.append(b.op("MaxPool", [pools[-1]], kernel_shape=[5, 5], pads=[2, 2, 2, 2]))
    p5 = _cbr(b, b.op("Concat", pools, axis=1), 1024, 512, k=1, act="silu")
    h5 = _cbr(b, p5, 512, 256, k=1, act="silu")
    n4 = c3(b.op("Concat", [_resize(b, h5), p4], axis=1), 512, 256, 1, shortcut=False)
    h4 = _cbr(b, n4, 256, 128, k=1, act="silu")
    out3 = c3(b.op("Concat", [_resize(b, h4), p3], axis=1), 256, 128, 1, shortcut=False)
    out4 = c3(b.op("Concat", [_cbr(b, out3, 128, 128, stride=2, act="silu"), h4], axis=1), 256, 256, 1, shortcut=False)
    out5 = c3(b.op("Concat", [_cbr(b, out4, 256, 256, stride=2, act="silu"), h5], axis=1), 512, 512, 1, shortcut=False)
    heads = []
    for feature, c in [(out3, 128), (out4, 256), (out5, 512)]:
        head = _conv(b, feature, c, 3 * (5 + classes), k=1)
        head = b.op("Reshape", [head, b.const(np.array([0, 3, 5 + classes, -1], np.int64), "shape")])
        head = b.op("Sigmoid", [b.op("Transpose", [head], perm=[0, 1, 3, 2])])
        heads.append(b.op("Reshape", [head, b.const(np.array([0, -1, 5 + classes], np.int64), "flat")]))
    b.op("Concat", heads, outputs=["detections"], axis=1)
    return b.model([_images("images", "N", 640, 640)], [_out("detections", "N", "boxes", 5 + classes)], "yolo_detector")


def bert_encoder(seed=38, layers=6, hidden=384, heads=12, vocab=30522):
    """A 6-layer BERT-style encoder (hidden 384, 12 heads, FFN 1536) with the three int64 inputs
    and the -inf attention mask, as exported: per-head Reshape/Transpose, MatMul, Softmax."""
    b = _Builder(17, seed=seed)
    d = hidden // heads

    def linear(x, n_in, n_out):
        return b.op("Add", [b.op("MatMul", [x, b.weight(n_in, n_out, scale=(1 / n_in) ** 0.5)]), b.weight(n_out, scale=0.02)])

    word = b.op("Gather", [b.weight(vocab, hidden, scale=0.05), "input_ids"], axis=0)
    types = b.op("Gather", [b.weight(2, hidden, scale=0.05), "token_type_ids"], axis=0)
    seq_len = b.op("Gather", [b.op("Shape", ["input_ids"]), b.const(np.array(1, np.int64), "one")], axis=0)
    positions = b.op("Range", [b.const(np.array(0, np.int64)), seq_len, b.const(np.array(1, np.int64))])
    pos = b.op("Gather", [b.weight(512, hidden, scale=0.05), positions], axis=0)
    x = _layer_norm_channels_last(b, b.op("Add", [b.op("Add", [word, types]), pos]), hidden)
    keep = b.op("Cast", ["attention_mask"], to=TensorProto.BOOL)
    additive = b.op("Where", [keep, b.const(np.array(0.0, np.float32)), b.const(np.array(-np.inf, np.float32))])
    additive = b.op("Unsqueeze", [additive, b.const(np.array([1, 2], np.int64), "axes")])
    split = b.const(np.array([0, 0, heads, d], np.int64), "heads")
    merge = b.const(np.array([0, 0, hidden], np.int64), "merge")
    for _ in range(layers):
        q, k, v = (b.op("Reshape", [linear(x, hidden, hidden), split]) for _ in range(3))
        q = b.op("Transpose", [q], perm=[0, 2, 1, 3])
        k = b.op("Transpose", [k], perm=[0, 2, 3, 1])
        v = b.op("Transpose", [v], perm=[0, 2, 1, 3])
        scores = b.op("Add", [b.op("Div", [b.op("MatMul", [q, k]), b.const(np.array(np.sqrt(d), np.float32))]), additive])
        context = b.op("MatMul", [b.op("Softmax", [scores], axis=-1), v])
        context = b.op("Reshape", [b.op("Transpose", [context], perm=[0, 2, 1, 3]), merge])
        x = _layer_norm_channels_last(b, b.op("Add", [x, linear(context, hidden, hidden)]), hidden)
        x = _layer_norm_channels_last(b, b.op("Add", [x, linear(_gelu(b, linear(x, hidden, 4 * hidden)), 4 * hidden, hidden)]), hidden)
    b.op("Identity", [x], outputs=["last_hidden_state"])
    ints = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"]) for n in ("input_ids", "attention_mask", "token_type_ids")]
    return b.model(ints, [_out("last_hidden_state", "batch", "sequence", hidden)], "bert_encoder")


def cases():
    """Name → (model, feeds) for the engine benchmark."""
    rng = np.random.default_rng(0)
    images = lambda n, h, w, c=3: rng.standard_normal((n, c, h, w)).astype(np.float32)
    resnet = resnet50()
    bert = bert_encoder()
    return {
        "resnet50 1x224": (resnet, {"images": images(1, 224, 224)}),
        "resnet50 8x224": (resnet, {"images": images(8, 224, 224)}),
        "mobilenet_v3_large 1x224": (mobilenet_v3_large(), {"images": images(1, 224, 224)}),
        "efficientnet_b0 1x224": (efficientnet_b0(), {"images": images(1, 224, 224)}),
        "convnext_tiny 1x224": (convnext_tiny(), {"images": images(1, 224, 224)}),
        "db_detector 1x640": (db_text_detector(), {"images": images(1, 640, 640)}),
        "crnn 1x48x320": (crnn_recognizer(), {"image": images(1, 48, 320)}),
        "yolo 1x640": (yolo_detector(), {"images": images(1, 640, 640)}),
        "bert6 1x128": (bert, models.encoder_feeds(1, 128, vocab=30522)),
        "bert6 8x128": (bert, models.encoder_feeds(8, 128, vocab=30522, seed=1)),
    }
