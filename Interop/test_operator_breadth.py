"""The engine's breadth: its list of the standard domain against the pinned onnx wheel, the
operator listing users see, and whole models built as exporters write them (ViT padding with
Mod, a RoiAlign detector head, a spatial transformer, an STFT/mel audio front-end, an opset-23
decoder block, a Scan RNN) against ONNX Runtime (max |octet − ort| / max |ort| ≤ 1e-4)."""
import json
import random

import numpy as np
import onnx
import pytest
from onnx import defs, numpy_helper

import breadth_models
from ort_check import matches_onnx_runtime

MODELS = breadth_models.breadth_models()


def test_listing_covers_the_wheels_standard_domain(octet):
    listing = json.loads(octet("inspect", "--list-operators", "--json").stdout)
    coverage = listing["standardDomain"]
    wheel = {schema.name for schema in defs.get_all_schemas_with_history() if schema.domain == ""}
    assert coverage["onnxVersion"] == onnx.__version__
    assert coverage["total"] == len(wheel)
    engine = {entry["opType"] for entry in listing["operators"] if entry["domain"] == ""}
    assert engine <= wheel, f"registered names the wheel does not know: {sorted(engine - wheel)}"
    missing = {entry["opType"] for entry in coverage["missing"]}
    assert missing == wheel - engine
    assert coverage["supported"] == len(wheel & engine)
    assert missing <= {"ImageDecoder"}, f"operators without a kernel: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_matches_onnx_runtime(tmp_path, octet, name):
    model, feed_sets = MODELS[name]
    matches_onnx_runtime(tmp_path, octet, name, model, feed_sets)


# Operators added for the whole standard set; their node-test models are mutated below.
NEW_OPERATORS = """Mod BitShift BitwiseAnd BitwiseOr BitwiseXor BitwiseNot BitCast Tan Asin Acos Atan Sinh Cosh Asinh Acosh
Atanh Celu Softsign Shrink ThresholdedRelu Swish RMSNormalization LpNormalization MeanVarianceNormalization LRN Hardmax
NegativeLogLikelihoodLoss SoftmaxCrossEntropyLoss Attention RotaryEmbedding SwiGLU TensorScatter LinearAttention
CausalConvWithState CumProd LpPool GlobalLpPool EyeLike Compress ReverseSequence CenterCropPad Unique Det DFT STFT
HannWindow HammingWindow BlackmanWindow MelWeightMatrix MatMulInteger ConvInteger QLinearMatMul QLinearConv
DynamicQuantizeLinear GridSample AffineGrid RoiAlign MaxRoiPool MaxUnpool Col2Im DeformConv RNN Scan RandomUniform
RandomNormal RandomUniformLike RandomNormalLike Bernoulli Multinomial StringConcat StringSplit StringNormalizer
RegexFullMatch TfIdfVectorizer SequenceEmpty SequenceConstruct SequenceAt SequenceInsert SequenceErase SequenceLength
SequenceMap SplitToSequence ConcatFromSequence Optional OptionalHasElement OptionalGetElement Resize""".split()


def _node_cases():
    import warnings
    from onnx.backend.test.case.node import collect_testcases
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases(None)
    return [case for case in cases if len(case.model.graph.node) == 1 and case.model.graph.node[0].op_type in NEW_OPERATORS
            and case.data_sets]


def _save_inputs(folder, model, inputs):
    folder.mkdir(parents=True, exist_ok=True)
    for index, (info, value) in enumerate(zip(model.graph.input, inputs)):
        if isinstance(value, list):
            proto = numpy_helper.from_list(value, info.name)
        elif value is None:
            proto = onnx.OptionalProto(name=info.name, elem_type=onnx.OptionalProto.TENSOR)
        else:
            proto = numpy_helper.from_array(np.asarray(value), info.name)
        (folder / f"input_{index}.pb").write_bytes(proto.SerializeToString())


def _mutated(case, rng):
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    inputs = list(case.data_sets[0][0])
    node = model.graph.node[0]
    roll = rng.random()
    if node.attribute and roll < 0.4:
        a = rng.choice(list(node.attribute))
        if a.type == onnx.AttributeProto.INT:
            a.i = rng.choice([-5, -1, 0, 1, 2, 3, 7, 100, 2**40, -2**62])
        elif a.type == onnx.AttributeProto.INTS and a.ints:
            a.ints[rng.randrange(len(a.ints))] = rng.choice([-3, -1, 0, 1, 5, 1000, 2**40])
        elif a.type == onnx.AttributeProto.FLOAT:
            a.f = rng.choice([0.0, -1.0, float("nan"), float("inf"), 1e30])
        elif a.type == onnx.AttributeProto.STRING:
            a.s = rng.choice([b"", b"bogus", b"(", b"LEFT"])
        elif a.type == onnx.AttributeProto.STRINGS and a.strings:
            a.strings[0] = b""
    elif inputs:
        index = rng.randrange(len(inputs))
        value = inputs[index]
        if isinstance(value, np.ndarray) and value.dtype.kind in "iufb":
            if rng.random() < 0.5 and value.size:
                value = value.copy()
                if value.dtype.kind in "iu":
                    info = np.iinfo(value.dtype)
                    value.flat[rng.randrange(value.size)] = rng.choice([info.min, info.max, 0, 1])
                elif value.dtype.kind == "f":
                    value.flat[rng.randrange(value.size)] = rng.choice([np.nan, np.inf, -np.inf, 1e38])
            else:
                shape = [rng.choice([0, 1, 2, 3, 7]) for _ in range(rng.choice([0, 1, 2, 3, 4, 5]))]
                value = np.zeros(shape, value.dtype) if value.dtype.kind == "b" else \
                    np.random.default_rng(0).integers(-3, 9, shape).astype(value.dtype)
            inputs[index] = value
    return model, inputs


@pytest.mark.parametrize("seed", range(2))
def test_mutated_new_operators_never_crash(tmp_path, octet, seed):
    """Every new kernel's node-test models with odd attributes, shapes and values: `octet run`
    gives a result or one `Error:` line naming the model; never a crash."""
    rng = random.Random(seed)
    for number, case in enumerate(_node_cases()):
        model, inputs = _mutated(case, rng)
        folder = tmp_path / f"case{number}"
        _save_inputs(folder / "data", model, inputs)
        path = folder / "model.onnx"
        onnx.save(model, str(path))
        result = octet("run", path, "--load-inputs", folder / "data", check=False, timeout=60)
        assert result.returncode in (0, 1), f"{case.name}: exit {result.returncode}\n{result.stderr[-2000:]}"
        if result.returncode == 1:
            assert result.stderr.startswith("Error: ") and "Fatal error" not in result.stderr, f"{case.name}: {result.stderr[-2000:]}"


@pytest.mark.parametrize("name", ["resnet_qlinearconv", "encoder_qlinearmatmul"])
def test_runs_onnx_runtime_qoperator_models(tmp_path, octet, name):
    """QOperator models as ONNX Runtime's `quantize_static` writes them (QLinearConv,
    QLinearMatMul between QuantizeLinear/DequantizeLinear) run as ONNX Runtime runs them."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    import models
    rng = np.random.default_rng(5)
    if name.startswith("resnet"):
        model = models.resnet(17)
        samples = [{"images": rng.standard_normal((1, 3, 32, 32)).astype(np.float32)} for _ in range(8)]
        ops = ["Conv"]
    else:
        model = models.mini_encoder(17)
        samples = [models.encoder_feeds(1, 7, seed=i) for i in range(8)]
        ops = ["MatMul"]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.samples = iter(samples)

        def get_next(self):
            return next(self.samples, None)

    onnx.save(model, str(tmp_path / "float.onnx"))
    quantize_static(str(tmp_path / "float.onnx"), str(tmp_path / "qop.onnx"), Reader(), quant_format=QuantFormat.QOperator,
                    op_types_to_quantize=ops, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    quantized = onnx.load(str(tmp_path / "qop.onnx"))
    assert {"QLinearConv" if name.startswith("resnet") else "QLinearMatMul"} <= {n.op_type for n in quantized.graph.node}
    feeds = [samples[0], {"images": rng.standard_normal((2, 3, 32, 32)).astype(np.float32)} if name.startswith("resnet")
             else models.encoder_feeds(2, 9, seed=11)]
    matches_onnx_runtime(tmp_path, octet, name, quantized, feeds)
