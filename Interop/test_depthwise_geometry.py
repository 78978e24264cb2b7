"""Depthwise convolutions of every geometry the engine's padded-plane kernel must handle
(strides 1–3, dilation, asymmetric padding, planes narrower and wider than a 16-output block)
against ONNX Runtime, at 1 and 2 threads."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

GEOMETRIES = [(3, 1, 1, [1, 1, 1, 1], 7, 9), (5, 2, 1, [2, 2, 2, 2], 13, 17), (3, 2, 2, [0, 1, 2, 0], 10, 33),
              (7, 1, 1, [3, 3, 3, 3], 5, 40), (3, 3, 1, [1, 0, 0, 1], 11, 50), (1, 1, 1, [0, 0, 0, 0], 4, 4),
              (3, 1, 1, [0, 0, 0, 0], 30, 31)]


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=[f"k{g[0]}s{g[1]}d{g[2]}_{g[4]}x{g[5]}" for g in GEOMETRIES])
def test_depthwise_matches_onnx_runtime(tmp_path, octet, geometry):
    k, stride, dilation, pads, h, w = geometry
    rng = np.random.default_rng(h * w)
    channels = 4
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["y"], name="dw", group=channels, kernel_shape=[k, k], strides=[stride] * 2,
                          dilations=[dilation] * 2, pads=pads)], "dw",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, channels, h, w])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(rng.standard_normal((channels, 1, k, k)).astype(np.float32), "w"),
         numpy_helper.from_array(rng.standard_normal(channels).astype(np.float32), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "dw.onnx"))
    x = rng.standard_normal((2, channels, h, w)).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=x)
    want = ort.InferenceSession(str(tmp_path / "dw.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    for threads in (1, 2):
        octet("run", tmp_path / "dw.onnx", "--load-inputs", tmp_path / "in.npz", "--save-outputs", tmp_path / "out.npz", "--threads", threads)
        got = np.load(tmp_path / "out.npz")["y"]
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-5 * max(1.0, float(np.abs(want).max()))
