"""`octet convert --prepare` (Constant weights to initializers, opset 11/12 raised to 13,
BatchNormalization folded into Conv) keeps the FP32 function: ONNX Runtime and Octet's engine
give the original model's outputs, and onnx.checker accepts the result."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import models

ENGINE_MODELS = models.engine_models()
CASES = sorted(name for name in ENGINE_MODELS if "opset11" in name or "opset12" in name) + ["cnn_constants_opset11", "cnn_constants_opset12", "exported_weights_opset12"]


def exported_weights(opset=12):
    """Weights as exporters sometimes leave them: a float16 Constant cast and transposed before
    a MatMul, a Conv kernel reshaped from a flat Constant."""
    rng = np.random.default_rng(5)
    w16 = rng.standard_normal((6, 8)).astype(np.float16)
    flat = (0.2 * rng.standard_normal(4 * 3 * 3 * 3)).astype(np.float32)
    nodes = [
        helper.make_node("Constant", [], ["w16"], value=numpy_helper.from_array(w16, "w16")),
        helper.make_node("Cast", ["w16"], ["w32"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", ["w32"], ["wt"], perm=[1, 0]),
        helper.make_node("Constant", [], ["flat"], value=numpy_helper.from_array(flat, "flat")),
        helper.make_node("Constant", [], ["kshape"], value=numpy_helper.from_array(np.array([4, 3, 3, 3], np.int64), "kshape")),
        helper.make_node("Reshape", ["flat", "kshape"], ["kernel"]),
        helper.make_node("Conv", ["images", "kernel"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["conv"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["features"]),
        helper.make_node("Concat", ["features", "features"], ["both"], axis=1),
        helper.make_node("MatMul", ["both", "wt"], ["scores"]),
    ]
    graph = helper.make_graph(nodes, "exported_weights", [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 6])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=7)


def case(name):
    if name == "exported_weights_opset12":
        rng = np.random.default_rng(6)
        return exported_weights(12), [{"images": rng.standard_normal((2, 3, 8, 8)).astype(np.float32)}]
    if name.startswith("cnn_constants"):
        opset = int(name[-2:])
        rng = np.random.default_rng(opset)
        return models.cnn_constants(opset), [{"images": rng.standard_normal((2, 3, 16, 16)).astype(np.float32)}]
    return ENGINE_MODELS[name]


def run_ort(path, feeds):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


@pytest.mark.parametrize("name", CASES)
def test_prepared_models_keep_their_outputs(tmp_path, octet, name):
    model, feed_list = case(name)
    original = tmp_path / "model.onnx"
    onnx.save(model, str(original))
    prepared = tmp_path / "prepared.onnx"
    result = octet("convert", original, "-o", prepared, "--prepare")
    assert "Prepared: opset" in result.stdout and "→ 13" in result.stdout
    checked = onnx.load(str(prepared))
    onnx.checker.check_model(checked, full_check=True)
    assert next(o.version for o in checked.opset_import if o.domain in ("", "ai.onnx")) == 13
    assert not any(n.op_type == "Constant" for n in checked.graph.node)
    if any(n.op_type == "Conv" for n in model.graph.node):
        assert not any(n.op_type == "BatchNormalization" for n in checked.graph.node)
    if name == "exported_weights_opset12":
        assert "3 nodes computed from constants folded" in result.stdout
        assert [n.op_type for n in checked.graph.node] == ["Conv", "GlobalAveragePool", "Flatten", "Concat", "MatMul"]
    for feeds in feed_list:
        before = run_ort(original, feeds)
        after = run_ort(prepared, feeds)
        for want, got in zip(before, after):
            scale = max(float(np.abs(want).max()), 1e-6)
            assert float(np.abs(want - got).max()) / scale <= 1e-5, name
        np.savez(tmp_path / "in.npz", **feeds)
        octet("run", prepared, "--load-inputs", tmp_path / "in.npz", "--save-outputs", tmp_path / "out.npz")
        with np.load(tmp_path / "out.npz") as saved:
            for output, want in zip(checked.graph.output, before):
                got = saved[output.name]
                scale = max(float(np.abs(want).max()), 1e-6)
                assert float(np.abs(want - got).max()) / scale <= 1e-4, f"{name} {output.name} (Octet)"
