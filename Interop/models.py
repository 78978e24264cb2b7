"""Builders for the test and example models, written with onnx.helper and seeded weights.

Each builder returns an onnx.ModelProto. The models carry the traits of real exports that
Octet must handle: several int64 inputs with -inf attention masks, weights as Constant nodes
at opset 11/12, unnamed nodes without value_info, If subgraphs reading outer-scope values,
LSTM, initializers listed as graph inputs, typed-field tensor data, every tensor type, and
fields Octet does not model itself (which must survive a load/save round trip).
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _rng(seed):
    return np.random.default_rng(seed)


class _Builder:
    """Collects nodes and weights; weights become initializers or Constant nodes."""

    def __init__(self, opset, constants_as_nodes=False, name_nodes=True, seed=0):
        self.opset = opset
        self.constants_as_nodes = constants_as_nodes
        self.name_nodes = name_nodes
        self.nodes, self.initializers = [], []
        self.rng = _rng(seed)
        self.count = 0

    def fresh(self, stem):
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, array, stem="w"):
        name = self.fresh(stem)
        array = np.asarray(array)
        if self.constants_as_nodes:
            self.nodes.append(helper.make_node(
                "Constant", [], [name], name=self.fresh("Constant") if self.name_nodes else "",
                value=numpy_helper.from_array(array, name)))
        else:
            self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def weight(self, *shape, scale=0.2):
        return self.const((self.rng.standard_normal(shape) * scale).astype(np.float32))

    def op(self, op_type, inputs, outputs=1, **attrs):
        names = [self.fresh(op_type.lower()) for _ in range(outputs)] if isinstance(outputs, int) else outputs
        node_name = self.fresh(op_type) if self.name_nodes else ""
        self.nodes.append(helper.make_node(op_type, inputs, names, name=node_name, **attrs))
        return names[0] if len(names) == 1 else names

    def unsqueeze(self, x, axes):
        if self.opset >= 13:
            return self.op("Unsqueeze", [x, self.const(np.array(axes, np.int64), "axes")])
        return self.op("Unsqueeze", [x], axes=axes)

    def reduce_mean(self, x, axes):
        if self.opset >= 18:
            return self.op("ReduceMean", [x, self.const(np.array(axes, np.int64), "axes")], keepdims=1)
        return self.op("ReduceMean", [x], axes=axes, keepdims=1)

    def model(self, inputs, outputs, name, ir_version=None, value_info=()):
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.initializers, value_info=list(value_info))
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)], producer_name="octet-tests")
        model.ir_version = ir_version or (7 if self.opset <= 12 else 8)
        return model


def mini_encoder(opset=17, constants_as_nodes=False, decomposed_layernorm=None, hidden=16, vocab=50, seed=1):
    """A one-layer BERT-style encoder: input_ids, attention_mask, token_type_ids (int64)."""
    b = _Builder(opset, constants_as_nodes, seed=seed)
    decomposed = opset < 17 if decomposed_layernorm is None else decomposed_layernorm

    def layer_norm(x):
        gamma = b.const((1 + 0.1 * b.rng.standard_normal(hidden)).astype(np.float32), "gamma")
        beta = b.const((0.1 * b.rng.standard_normal(hidden)).astype(np.float32), "beta")
        if not decomposed:
            return b.op("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=1e-5)
        mean = b.reduce_mean(x, [-1])
        centered = b.op("Sub", [x, mean])
        variance = b.reduce_mean(b.op("Pow", [centered, b.const(np.array(2.0, np.float32))]), [-1])
        std = b.op("Sqrt", [b.op("Add", [variance, b.const(np.array(1e-5, np.float32))])])
        return b.op("Add", [b.op("Mul", [b.op("Div", [centered, std]), gamma]), beta])

    def linear(x, n_in, n_out):
        return b.op("Add", [b.op("MatMul", [x, b.weight(n_in, n_out)]), b.weight(n_out, scale=0.05)])

    word = b.op("Gather", [b.weight(vocab, hidden), "input_ids"], axis=0)
    types = b.op("Gather", [b.weight(2, hidden), "token_type_ids"], axis=0)
    # The exporter's shape subgraph: positions = Range(0, Shape(input_ids)[1], 1).
    seq_len = b.op("Gather", [b.op("Shape", ["input_ids"]), b.const(np.array(1, np.int64), "one")], axis=0)
    positions = b.op("Range", [b.const(np.array(0, np.int64)), seq_len, b.const(np.array(1, np.int64))])
    pos = b.op("Gather", [b.weight(64, hidden), positions], axis=0)
    x = layer_norm(b.op("Add", [b.op("Add", [word, types]), pos]))
    # Additive mask built as Where(mask, 0, -inf), broadcast over query positions.
    keep = b.op("Cast", ["attention_mask"], to=TensorProto.BOOL)
    additive = b.op("Where", [keep, b.const(np.array(0.0, np.float32)), b.const(np.array(-np.inf, np.float32), "neg_inf")])
    additive = b.unsqueeze(additive, [1])
    q, k, v = (linear(x, hidden, hidden) for _ in range(3))
    scores = b.op("MatMul", [q, b.op("Transpose", [k], perm=[0, 2, 1])])
    scores = b.op("Add", [b.op("Div", [scores, b.const(np.array(np.sqrt(hidden), np.float32))]), additive])
    attended = b.op("MatMul", [b.op("Softmax", [scores], axis=-1), v])
    x = layer_norm(b.op("Add", [x, linear(attended, hidden, hidden)]))
    h = linear(x, hidden, 4 * hidden)
    gelu = b.op("Mul", [b.op("Mul", [h, b.op("Add", [b.op("Erf", [b.op("Div", [h, b.const(np.array(np.sqrt(2), np.float32))])]),
                                                       b.const(np.array(1.0, np.float32))])]),
                        b.const(np.array(0.5, np.float32))])
    b.op("LayerNormalization" if not decomposed else "Identity",
         [layer_norm(b.op("Add", [x, linear(gelu, 4 * hidden, hidden)]))] +
         ([b.const(np.ones(hidden, np.float32)), b.const(np.zeros(hidden, np.float32))] if not decomposed else []),
         outputs=["last_hidden_state"], **({"axis": -1} if not decomposed else {}))
    first = b.op("Gather", ["last_hidden_state", b.const(np.array(0, np.int64))], axis=1)
    b.op("Tanh", [b.op("Gemm", [first, b.weight(hidden, hidden), b.weight(hidden, scale=0.05)])], outputs=["pooler_output"])
    ints = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
            for n in ("input_ids", "attention_mask", "token_type_ids")]
    outs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", hidden]),
            helper.make_tensor_value_info("pooler_output", TensorProto.FLOAT, ["batch", hidden])]
    return b.model(ints, outs, "mini_encoder")


def encoder_feeds(batch=2, seq=7, vocab=50, seed=0):
    rng = _rng(seed)
    mask = np.ones((batch, seq), np.int64)
    mask[:, seq - 2:] = 0
    return {"input_ids": rng.integers(0, vocab, (batch, seq)).astype(np.int64),
            "attention_mask": mask,
            "token_type_ids": (np.arange(seq) >= seq // 2).astype(np.int64)[None].repeat(batch, 0)}


def cnn_constants(opset=11, seed=2):
    """A ResNet-style block, opset 11/12, every weight a Constant node, nodes unnamed, no value_info."""
    b = _Builder(opset, constants_as_nodes=True, name_nodes=False, seed=seed)

    def conv_bn_relu(x, c_in, c_out, relu=True):
        y = b.op("Conv", [x, b.weight(c_out, c_in, 3, 3), b.weight(c_out, scale=0.05)], pads=[1, 1, 1, 1])
        y = b.op("BatchNormalization", [y, b.const((1 + 0.1 * b.rng.standard_normal(c_out)).astype(np.float32)),
                                         b.weight(c_out, scale=0.1), b.weight(c_out, scale=0.1),
                                         b.const((1 + b.rng.random(c_out)).astype(np.float32))])
        return b.op("Relu", [y]) if relu else y

    x = conv_bn_relu("images", 3, 8)
    x = b.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.op("Relu", [b.op("Add", [conv_bn_relu(conv_bn_relu(x, 8, 8), 8, 8, relu=False), x])])
    x = b.op("Flatten", [b.op("GlobalAveragePool", [x])], axis=1)
    b.op("Gemm", [x, b.weight(10, 8), b.weight(10, scale=0.05)], outputs=["logits"], transB=1)
    return b.model([helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, 16, 16])],
                   [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], "cnn_constants")


def if_model(opset=13):
    """An If whose branches read an outer-scope initializer and an outer node's output."""
    scale = numpy_helper.from_array(np.array([1.5, -2.0, 0.5], np.float32), "scale")
    doubled = helper.make_node("Add", ["x", "x"], ["doubled"], name="double")
    then_graph = helper.make_graph([helper.make_node("Mul", ["doubled", "scale"], ["then_out"], name="then_mul")],
                                   "then_branch", [], [helper.make_tensor_value_info("then_out", TensorProto.FLOAT, None)])
    else_graph = helper.make_graph([helper.make_node("Sub", ["doubled", "scale"], ["else_out"], name="else_sub")],
                                   "else_branch", [], [helper.make_tensor_value_info("else_out", TensorProto.FLOAT, None)])
    branch = helper.make_node("If", ["flag"], ["y"], name="branch", then_branch=then_graph, else_branch=else_graph)
    graph = helper.make_graph([doubled, branch], "if_model",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
                               helper.make_tensor_value_info("flag", TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], [scale])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def lstm_model(opset=14, seed=3):
    """A bidirectional LSTM over [seq, batch, features]."""
    rng = _rng(seed)
    hidden, features = 6, 4
    w = numpy_helper.from_array((rng.standard_normal((2, 4 * hidden, features)) * 0.3).astype(np.float32), "W")
    r = numpy_helper.from_array((rng.standard_normal((2, 4 * hidden, hidden)) * 0.3).astype(np.float32), "R")
    bias = numpy_helper.from_array((rng.standard_normal((2, 8 * hidden)) * 0.1).astype(np.float32), "B")
    node = helper.make_node("LSTM", ["audio", "W", "R", "B"], ["Y", "Y_h", "Y_c"], name="lstm",
                            hidden_size=hidden, direction="bidirectional")
    graph = helper.make_graph([node], "lstm_model",
                              [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["time", "batch", features])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["time", 2, "batch", hidden]),
                               helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, [2, "batch", hidden]),
                               helper.make_tensor_value_info("Y_c", TensorProto.FLOAT, [2, "batch", hidden])], [w, r, bias])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def audio_control_flow(opset=13, seed=17):
    """A recurrent audio model with control flow: a projection, an If on the clip length whose
    branches hold MatMuls (one reading an outer-scope weight, one its own), an LSTM, and a Loop
    refining the state three times with a MatMul on an outer-scope weight; features [batch, time, 32]."""
    rng = _rng(seed)
    w = lambda *shape, scale=0.2: (rng.standard_normal(shape) * scale).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for n, a in [
        ("w_in", w(32, 32)), ("b_in", w(32, scale=0.05)), ("w_long", w(32, 32)), ("lstm_w", w(1, 64, 32, scale=0.15)),
        ("lstm_r", w(1, 64, 16, scale=0.15)), ("w_loop", w(16, 16, scale=0.3)), ("w_cls", w(10, 16)), ("b_cls", w(10, scale=0.05)),
        ("time_axis", np.array(1, np.int64)), ("min_time", np.array(8, np.int64)), ("squeeze_axes", np.array([0], np.int64)),
        ("trips", np.array(3, np.int64)), ("keep_going", np.array(True))]]
    long_graph = helper.make_graph(
        [helper.make_node("MatMul", ["h", "w_long"], ["long_mm"], name="long/MatMul"),
         helper.make_node("Relu", ["long_mm"], ["long_relu"], name="long/Relu"),
         helper.make_node("MatMul", ["long_relu", "w_long2"], ["long_out"], name="long/MatMul_1")],
        "long_clip", [], [helper.make_tensor_value_info("long_out", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w(32, 32), "w_long2")])
    short_graph = helper.make_graph(
        [helper.make_node("MatMul", ["h", "w_short"], ["short_mm"], name="short/MatMul"),
         helper.make_node("Tanh", ["short_mm"], ["short_tanh"], name="short/Tanh"),
         helper.make_node("MatMul", ["short_tanh", "w_short2"], ["short_out"], name="short/MatMul_1")],
        "short_clip", [], [helper.make_tensor_value_info("short_out", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w(32, 32), "w_short"), numpy_helper.from_array(w(32, 32), "w_short2")])
    body = helper.make_graph(
        [helper.make_node("MatMul", ["state_in", "w_loop"], ["loop_mm"], name="refine/MatMul"),
         helper.make_node("Add", ["loop_mm", "b_loop"], ["loop_pre"], name="refine/Add"),
         helper.make_node("Tanh", ["loop_pre"], ["state_out"], name="refine/Tanh"),
         helper.make_node("Identity", ["cond_in"], ["cond_out"], name="refine/cond")],
        "refine", [helper.make_tensor_value_info("iteration", TensorProto.INT64, []),
                   helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                   helper.make_tensor_value_info("state_in", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("state_out", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w(16, scale=0.05), "b_loop")])
    nodes = [
        helper.make_node("MatMul", ["features", "w_in"], ["proj_mm"], name="proj/MatMul"),
        helper.make_node("Add", ["proj_mm", "b_in"], ["proj"], name="proj/Add"),
        helper.make_node("Relu", ["proj"], ["h"], name="proj/Relu"),
        helper.make_node("Shape", ["features"], ["shape"], name="length/Shape"),
        helper.make_node("Gather", ["shape", "time_axis"], ["time"], name="length/Gather", axis=0),
        helper.make_node("Greater", ["time", "min_time"], ["is_long"], name="length/Greater"),
        helper.make_node("If", ["is_long"], ["branch_out"], name="by_length", then_branch=long_graph, else_branch=short_graph),
        helper.make_node("Transpose", ["branch_out"], ["time_major"], name="to_time_major", perm=[1, 0, 2]),
        helper.make_node("LSTM", ["time_major", "lstm_w", "lstm_r"], ["", "lstm_h"], name="lstm", hidden_size=16),
        helper.make_node("Squeeze", ["lstm_h", "squeeze_axes"], ["state"], name="state/Squeeze"),
        helper.make_node("Loop", ["trips", "keep_going", "state"], ["refined"], name="refine_loop", body=body),
        helper.make_node("Gemm", ["refined", "w_cls", "b_cls"], ["logits"], name="classifier", transB=1),
    ]
    graph = helper.make_graph(nodes, "audio_control_flow",
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", "time", 32])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def loop_scan_only(opset=13):
    """A Loop with no loop-carried value, only a scan output: y[i] = i · x over 3 trips."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"], name="keep_going"),
         helper.make_node("Cast", ["i"], ["i_f"], name="index", to=TensorProto.FLOAT),
         helper.make_node("Mul", ["i_f", "x"], ["scan_out"], name="scale")],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), helper.make_tensor_value_info("scan_out", TensorProto.FLOAT, [2])])
    graph = helper.make_graph([helper.make_node("Loop", ["trips", "cond"], ["ys"], name="loop", body=body)], "loop_scan_only",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("ys", TensorProto.FLOAT, [3, 2])],
                              [numpy_helper.from_array(np.array(3, np.int64), "trips"), numpy_helper.from_array(np.array(True), "cond")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def legacy_inputs_model(seed=4):
    """IR version 3 / opset 9: initializers are also listed as graph inputs."""
    rng = _rng(seed)
    weight = numpy_helper.from_array(rng.standard_normal((4, 5)).astype(np.float32), "weight")
    bias = numpy_helper.from_array(rng.standard_normal(5).astype(np.float32), "bias")
    nodes = [helper.make_node("MatMul", ["data", "weight"], ["mm"]), helper.make_node("Add", ["mm", "bias"], ["out"])]
    inputs = [helper.make_tensor_value_info("data", TensorProto.FLOAT, [3, 4]),
              helper.make_tensor_value_info("weight", TensorProto.FLOAT, [4, 5]),
              helper.make_tensor_value_info("bias", TensorProto.FLOAT, [5])]
    graph = helper.make_graph(nodes, "legacy", inputs, [helper.make_tensor_value_info("out", TensorProto.FLOAT, [3, 5])],
                              [weight, bias])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)], ir_version=3)


def typed_fields_model():
    """Initializers stored in float_data / int64_data / int32_data / double_data, not raw_data."""
    f32 = helper.make_tensor("f32", TensorProto.FLOAT, [2, 3], [0.5, -1.0, 2.0, 3.25, -0.125, 8.0])
    f64 = helper.make_tensor("f64", TensorProto.DOUBLE, [3], [1.5, 2.5, -3.5])
    i64 = helper.make_tensor("i64", TensorProto.INT64, [3], [7, -9, 11])
    half_bits = np.array([1.0, -2.5, 0.1], np.float16).view(np.uint16).astype(np.int32)
    f16 = helper.make_tensor("f16", TensorProto.FLOAT16, [3], half_bits.tolist())
    i8 = helper.make_tensor("i8", TensorProto.INT8, [3], [-128, 5, 127])
    nodes = [helper.make_node("Cast", ["f64"], ["f64_as_f32"], to=TensorProto.FLOAT),
             helper.make_node("Cast", ["i64"], ["i64_as_f32"], to=TensorProto.FLOAT),
             helper.make_node("Cast", ["f16"], ["f16_as_f32"], to=TensorProto.FLOAT),
             helper.make_node("Cast", ["i8"], ["i8_as_f32"], to=TensorProto.FLOAT),
             helper.make_node("Add", ["x", "f32"], ["a"]),
             helper.make_node("Add", ["a", "f64_as_f32"], ["b"]),
             helper.make_node("Add", ["b", "i64_as_f32"], ["c"]),
             helper.make_node("Add", ["c", "f16_as_f32"], ["d"]),
             helper.make_node("Add", ["d", "i8_as_f32"], ["out"])]
    graph = helper.make_graph(nodes, "typed_fields", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [2, 3])], [f32, f64, i64, f16, i8])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def all_dtypes_model(seed=5):
    """One initializer of every tensor type Octet supports, each passed through Identity."""
    rng = _rng(seed)
    values = rng.standard_normal(6) * 3
    tensors = []
    for name, code in TensorProto.DataType.items():
        if code in (TensorProto.UNDEFINED, 24, 27, 28):  # float8e8m0 and the float6 types are not supported
            continue
        if code == TensorProto.STRING:
            tensors.append(helper.make_tensor("t_string", code, [2], [b"hello", "wörld".encode()]))
            continue
        dtype = helper.tensor_dtype_to_np_dtype(code)
        if code in (TensorProto.COMPLEX64, TensorProto.COMPLEX128):
            array = (values + 1j * values[::-1]).astype(dtype)
        elif code == TensorProto.BOOL:
            array = values > 0
        elif code in (TensorProto.UINT4, TensorProto.INT4):
            array = np.clip(np.round(values), -8 if code == TensorProto.INT4 else 0, 7).astype(dtype)
        elif code in (TensorProto.UINT2, TensorProto.INT2):
            array = np.clip(np.round(values), -2 if code == TensorProto.INT2 else 0, 1).astype(dtype)
        else:
            array = values.astype(np.float32).astype(dtype) if np.dtype(dtype).kind == "f" or np.dtype(dtype).kind == "V" \
                else np.abs(np.round(values)).astype(dtype)
        tensors.append(numpy_helper.from_array(array.reshape(2, 3) if array.size == 6 else array, f"t_{name.lower()}"))
    nodes = [helper.make_node("Identity", [t.name], [t.name + "_out"]) for t in tensors]
    outputs = [helper.make_tensor_value_info(t.name + "_out", t.data_type, list(t.dims)) for t in tensors]
    graph = helper.make_graph(nodes, "all_dtypes", [], outputs, tensors)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 25)], ir_version=13)


def preserved_fields_model():
    """Fields Octet's IR does not model: node/graph/tensor metadata, quantization annotations,
    a sparse initializer, a model-local function and training info, plus doc strings."""
    node_meta = helper.make_node("Relu", ["x"], ["r"], name="relu", doc_string="a relu")
    node_meta.metadata_props.add(key="source", value="layer1.relu")
    local_call = helper.make_node("ScaleShift", ["r"], ["s"], name="call", domain="local.fn")
    function = helper.make_function(
        "local.fn", "ScaleShift", ["a"], ["b"],
        [helper.make_node("Constant", [], ["two"], value_float=2.0),
         helper.make_node("Mul", ["a", "two"], ["b"])],
        [helper.make_opsetid("", 17)])
    dense = np.array([0, 0, 3.0, 0, 0, -1.0], np.float32)
    sparse = helper.make_sparse_tensor(numpy_helper.from_array(dense[dense != 0], "sparse_bias"),
                                       numpy_helper.from_array(np.array([2, 5], np.int64), "sparse_bias_indices"), [6])
    # onnx.checker refuses sparse initializers as operator inputs, so this one stays unread.
    add = helper.make_node("Add", ["s", "bias"], ["y"], name="add_bias")
    weight = numpy_helper.from_array(np.linspace(-1, 1, 6).astype(np.float32), "bias")
    weight.metadata_props.add(key="origin", value="tests")
    graph = helper.make_graph([node_meta, local_call, add], "preserved",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [6])], [weight],
                              doc_string="graph docs", sparse_initializer=[sparse])
    graph.metadata_props.add(key="graph_key", value="graph_value")
    annotation = graph.quantization_annotation.add(tensor_name="r")
    annotation.quant_parameter_tensor_names.add(key="SCALE_TENSOR", value="bias")
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local.fn", 1)],
                              functions=[function], producer_name="octet-tests", producer_version="1.0",
                              doc_string="model docs", model_version=3)
    model.ir_version = 9
    helper.set_model_props(model, {"author": "octet", "purpose": "round trip"})
    return model


def models():
    """Every round-trip model with its feeds (None when ONNX Runtime is not asked to run it)."""
    rng = _rng(9)
    return {
        "encoder_opset17": (mini_encoder(17), encoder_feeds()),
        "encoder_opset12_constants": (mini_encoder(12, constants_as_nodes=True), encoder_feeds(seq=5)),
        "cnn_opset11_constants": (cnn_constants(11), {"images": rng.standard_normal((2, 3, 16, 16)).astype(np.float32)}),
        "cnn_opset12_constants": (cnn_constants(12), {"images": rng.standard_normal((1, 3, 16, 16)).astype(np.float32)}),
        "if_outer_scope": (if_model(), {"x": rng.standard_normal((2, 3)).astype(np.float32), "flag": np.array(True)}),
        "lstm": (lstm_model(), {"audio": rng.standard_normal((5, 2, 4)).astype(np.float32)}),
        "legacy_initializer_inputs": (legacy_inputs_model(), {"data": rng.standard_normal((3, 4)).astype(np.float32)}),
        "typed_fields": (typed_fields_model(), {"x": rng.standard_normal((2, 3)).astype(np.float32)}),
        "preserved_fields": (preserved_fields_model(), {"x": rng.standard_normal(6).astype(np.float32)}),
        "all_dtypes": (all_dtypes_model(), None),
    }


def _conv(b, x, c_in, c_out, k=3, stride=1, group=1, bias=True):
    pad = k // 2
    inputs = [x, b.weight(c_out, c_in // group, k, k, scale=(2.0 / (c_in // group * k * k)) ** 0.5)]
    if bias:
        inputs.append(b.weight(c_out, scale=0.05))
    return b.op("Conv", inputs, kernel_shape=[k, k], pads=[pad] * 4, strides=[stride, stride], group=group)


def _bn(b, x, c):
    return b.op("BatchNormalization", [x, b.const((1 + 0.1 * b.rng.standard_normal(c)).astype(np.float32)),
                                       b.weight(c, scale=0.1), b.weight(c, scale=0.1),
                                       b.const((0.5 + b.rng.random(c)).astype(np.float32))])


def _hard_swish(b, x):
    if b.opset >= 14:
        return b.op("HardSwish", [x])
    return b.op("Mul", [x, b.op("HardSigmoid", [x], alpha=1 / 6, beta=0.5)])


def _resize(b, x, scale=2.0, mode="nearest"):
    scales = b.const(np.array([1, 1, scale, scale], np.float32), "scales")
    extra = {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"} if mode == "nearest" else \
        {"coordinate_transformation_mode": "half_pixel"}
    roi = b.const(np.array([], np.float32), "roi") if b.opset < 13 else ""
    return b.op("Resize", [x, roi, scales], mode=mode, **extra)


def resnet(opset=17, constants_as_nodes=False, seed=11):
    """ResNet-style: stem Conv/BN/ReLU, MaxPool, two residual blocks, GAP, Gemm."""
    b = _Builder(opset, constants_as_nodes, seed=seed)
    x = b.op("Relu", [_bn(b, _conv(b, "images", 3, 16, k=7, stride=2), 16)])
    x = b.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    for _ in range(2):
        y = b.op("Relu", [_bn(b, _conv(b, x, 16, 16), 16)])
        y = _bn(b, _conv(b, y, 16, 16), 16)
        x = b.op("Relu", [b.op("Add", [y, x])])
    x = b.op("Flatten", [b.op("GlobalAveragePool", [x])], axis=1)
    b.op("Gemm", [x, b.weight(10, 16), b.weight(10, scale=0.05)], outputs=["logits"], transB=1)
    return b.model([helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                   [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], "resnet")


def mobilenet_v3(opset=17, constants_as_nodes=False, seed=12):
    """MobileNetV3-style: depthwise Conv, HardSwish, squeeze-excite with HardSigmoid."""
    b = _Builder(opset, constants_as_nodes, seed=seed)
    x = _hard_swish(b, _bn(b, _conv(b, "images", 3, 16, stride=2, bias=False), 16))
    x = _hard_swish(b, _bn(b, _conv(b, x, 16, 32, k=1, bias=False), 32))
    x = _hard_swish(b, _bn(b, _conv(b, x, 32, 32, group=32, bias=False), 32))
    squeezed = b.op("GlobalAveragePool", [x])
    squeezed = b.op("Relu", [_conv(b, squeezed, 32, 8, k=1)])
    excite = b.op("HardSigmoid", [_conv(b, squeezed, 8, 32, k=1)], alpha=1 / 6, beta=0.5)
    x = b.op("Mul", [x, excite])
    x = _bn(b, _conv(b, x, 32, 16, k=1, bias=False), 16)
    x = b.op("Flatten", [b.op("GlobalAveragePool", [x])], axis=1)
    b.op("Gemm", [x, b.weight(5, 16), b.weight(5, scale=0.05)], outputs=["scores"], transB=1)
    return b.model([helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                   [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 5])], "mobilenet_v3")


def yolo_head(opset=17, constants_as_nodes=False, seed=13, classes=3):
    """A YOLO-style neck and head: upsample with Resize, Concat, Split into box/objectness/class,
    Sigmoid, and the Reshape/Transpose to [N, anchors*cells, 5 + classes]."""
    b = _Builder(opset, constants_as_nodes, seed=seed)
    c3 = b.op("Relu", [_conv(b, "images", 3, 8, stride=2)])
    c4 = b.op("Relu", [_conv(b, c3, 8, 16, stride=2)])
    up = _resize(b, _conv(b, c4, 16, 8, k=1))
    merged = b.op("Concat", [up, c3], axis=1)
    head = _conv(b, b.op("Relu", [_conv(b, merged, 16, 16)]), 16, 2 * (5 + classes), k=1)
    shape = b.const(np.array([0, 2, 5 + classes, -1], np.int64), "shape")
    grid = b.op("Transpose", [b.op("Reshape", [head, shape])], perm=[0, 1, 3, 2])
    split = b.const(np.array([4, 1, classes], np.int64), "split") if opset >= 13 else None
    parts = b.op("Split", [grid, split] if split else [grid], outputs=3, axis=3, **({} if split else {"split": [4, 1, classes]}))
    boxes, objectness, scores = parts
    joined = b.op("Concat", [boxes, b.op("Sigmoid", [objectness]), b.op("Sigmoid", [scores])], axis=3)
    b.op("Reshape", [joined, b.const(np.array([0, -1, 5 + classes], np.int64), "flat")], outputs=["detections"])
    return b.model([helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                   [helper.make_tensor_value_info("detections", TensorProto.FLOAT, ["N", "boxes", 5 + classes])], "yolo_head")


def unet(opset=17, constants_as_nodes=False, seed=14):
    """A DB/U-Net-style segmenter: strided Conv down, ConvTranspose and linear Resize up,
    skip Concat, Sigmoid probability map."""
    b = _Builder(opset, constants_as_nodes, seed=seed)
    d1 = b.op("Relu", [_bn(b, _conv(b, "images", 3, 8), 8)])
    d2 = b.op("Relu", [_bn(b, _conv(b, d1, 8, 16, stride=2), 16)])
    d3 = b.op("Relu", [_conv(b, d2, 16, 16, stride=2)])
    u2 = b.op("ConvTranspose", [d3, b.weight(16, 8, 2, 2, scale=0.2), b.weight(8, scale=0.05)], kernel_shape=[2, 2], strides=[2, 2])
    u2 = b.op("Concat", [u2, _conv(b, d2, 16, 8, k=1)], axis=1)
    u1 = _resize(b, _conv(b, u2, 16, 8, k=1), mode="linear")
    u1 = b.op("Add", [u1, d1])
    b.op("Sigmoid", [_conv(b, u1, 8, 1, k=1)], outputs=["probability"])
    return b.model([helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                   [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N", 1, "H", "W"])], "unet")


def engine_models():
    """Architectures the engine must run like ONNX Runtime, each with feeds at two sizes."""
    rng = _rng(21)

    def images(n, h, w):
        return {"images": rng.standard_normal((n, 3, h, w)).astype(np.float32)}

    result = {}
    for opset in (11, 12, 17):
        for constants in (False, True):
            suffix = f"opset{opset}{'_constants' if constants else ''}"
            result[f"resnet_{suffix}"] = (resnet(opset, constants), [images(1, 32, 32), images(2, 48, 40)])
            result[f"mobilenet_v3_{suffix}"] = (mobilenet_v3(opset, constants), [images(1, 32, 32), images(3, 24, 40)])
            result[f"yolo_head_{suffix}"] = (yolo_head(opset, constants), [images(1, 32, 32), images(2, 64, 48)])
            result[f"unet_{suffix}"] = (unet(opset, constants), [images(1, 32, 32), images(2, 16, 24)])
            result[f"encoder_{suffix}"] = (mini_encoder(opset, constants), [encoder_feeds(1, 5), encoder_feeds(3, 11, seed=4)])
    for opset in (11, 12, 17):
        result[f"crnn_opset{opset}_constants"] = (crnn(opset), [{"image": rng.standard_normal((1, 1, 32, 40)).astype(np.float32)},
                                                              {"image": rng.standard_normal((3, 1, 32, 64)).astype(np.float32)}])
    result["loop_scan_outputs_only"] = (loop_scan_only(), [{"x": rng.standard_normal(2).astype(np.float32)}])
    result["encoder_opset17_decomposed_layernorm"] = (mini_encoder(17, decomposed_layernorm=True), [encoder_feeds(2, 9)])
    result["einsum_attention"] = (einsum_attention(), [{"x": rng.standard_normal((2, 5, 8)).astype(np.float32)},
                                                       {"x": rng.standard_normal((1, 9, 8)).astype(np.float32)}])
    result["if_outer_scope"] = (if_model(), [{"x": rng.standard_normal((2, 3)).astype(np.float32), "flag": np.array(v)} for v in (True, False)])
    result["lstm_bidirectional"] = (lstm_model(), [{"audio": rng.standard_normal((5, 2, 4)).astype(np.float32)},
                                                   {"audio": rng.standard_normal((9, 1, 4)).astype(np.float32)}])
    return result


def einsum_attention(opset=17, seed=15):
    """Attention written with Einsum (as some exporters do): scores, softmax, weighted sum."""
    b = _Builder(opset, seed=seed)
    q = b.op("Einsum", ["x", b.weight(8, 2, 4)], equation="bsd,dhe->bhse")
    k = b.op("Einsum", ["x", b.weight(8, 2, 4)], equation="bsd,dhe->bhse")
    v = b.op("Einsum", ["x", b.weight(8, 2, 4)], equation="bsd,dhe->bhse")
    scores = b.op("Softmax", [b.op("Einsum", [q, k], equation="bhqe,bhke->bhqk")], axis=-1)
    context = b.op("Einsum", [scores, v], equation="bhqk,bhke->bqhe")
    b.op("Einsum", [context, b.weight(2, 4, 8)], outputs=["y"], equation="bqhe,hed->bqd")
    return b.model([helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", 8])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", 8])], "einsum_attention")


def crnn(opset=11, constants_as_nodes=True, seed=16, classes=12):
    """A CRNN text recognizer as exported at opset 11/12: Conv/BN/ReLU/MaxPool columns, Squeeze
    of the height axis, a bidirectional LSTM over the width, the exporter's dynamic Reshape
    (Shape/Gather/Unsqueeze/Concat) and LogSoftmax over classes."""
    b = _Builder(opset, constants_as_nodes, seed=seed)
    x = b.op("MaxPool", [b.op("Relu", [_conv(b, "image", 1, 16)])], kernel_shape=[2, 2], strides=[2, 2])
    x = b.op("MaxPool", [b.op("Relu", [_conv(b, x, 16, 32)])], kernel_shape=[2, 1], strides=[2, 1])
    x = b.op("MaxPool", [b.op("Relu", [_bn(b, _conv(b, x, 32, 32), 32)])], kernel_shape=[2, 1], strides=[2, 1])
    x = b.op("Relu", [b.op("Conv", [x, b.weight(48, 32, 4, 1, scale=0.1), b.weight(48, scale=0.05)], kernel_shape=[4, 1])])
    x = b.op("Squeeze", [x, b.const(np.array([2], np.int64), "axes")]) if opset >= 13 else b.op("Squeeze", [x], axes=[2])
    sequence = b.op("Transpose", [x], perm=[2, 0, 1])  # [W, N, C]
    hidden = 24
    w = b.const((b.rng.standard_normal((2, 4 * hidden, 48)) * 0.2).astype(np.float32), "W")
    r = b.const((b.rng.standard_normal((2, 4 * hidden, hidden)) * 0.2).astype(np.float32), "R")
    bias = b.const((b.rng.standard_normal((2, 8 * hidden)) * 0.1).astype(np.float32), "B")
    y = b.op("LSTM", [sequence, w, r, bias], outputs=3, hidden_size=hidden, direction="bidirectional")[0]
    y = b.op("Transpose", [y], perm=[0, 2, 1, 3])  # [W, N, 2, hidden]
    shape = b.op("Shape", [y])
    dims = [b.unsqueeze(b.op("Gather", [shape, b.const(np.array(i, np.int64))], axis=0), [0]) for i in (0, 1)]
    target = b.op("Concat", dims + [b.const(np.array([2 * hidden], np.int64))], axis=0)
    flat = b.op("Reshape", [y, target])
    logits = b.op("Add", [b.op("MatMul", [flat, b.weight(2 * hidden, classes)]), b.weight(classes, scale=0.05)])
    b.op("LogSoftmax", [logits], outputs=["log_probs"], axis=2)
    return b.model([helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 32, "W"])],
                   [helper.make_tensor_value_info("log_probs", TensorProto.FLOAT, ["T", "N", classes])], "crnn")
