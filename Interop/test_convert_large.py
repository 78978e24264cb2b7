"""A model past protobuf's 2 GB limit: its weights live in external data, and `convert --int8`
keeps them there. The 2.2 GB embedding table is a sparse file (only the rows the data uses hold
values), so the test costs little disk until Octet writes its output."""
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROWS, WIDTH, USED = 1_100_000, 512, 1000


def build(folder):
    """input_ids [batch, 16] → Gather(table [1.1M, 512]) → MatMul(512×64) → logits."""
    table_path = folder / "model.weights"
    rng = np.random.default_rng(9)
    with open(table_path, "wb") as f:
        f.write((rng.standard_normal((USED, WIDTH)) * 0.5).astype(np.float32).tobytes())
        f.truncate(ROWS * WIDTH * 4)
    table = TensorProto()
    table.name = "embeddings"
    table.data_type = TensorProto.FLOAT
    table.dims.extend([ROWS, WIDTH])
    table.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "model.weights"), ("offset", "0"), ("length", str(ROWS * WIDTH * 4))):
        entry = table.external_data.add()
        entry.key, entry.value = key, value
    projection = numpy_helper.from_array((rng.standard_normal((WIDTH, 64)) * 0.05).astype(np.float32), "projection")
    graph = helper.make_graph(
        [helper.make_node("Gather", ["embeddings", "input_ids"], ["embedded"], name="embed", axis=0),
         helper.make_node("MatMul", ["embedded", "projection"], ["logits"], name="project")],
        "large", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 16, 64])], [table, projection])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.save(model, str(folder / "model.onnx"))
    return folder / "model.onnx"


def test_int8_model_past_2gb_keeps_external_data(tmp_path, octet):
    path = build(tmp_path)
    rng = np.random.default_rng(10)
    np.savez(tmp_path / "calib.npz", input_ids=rng.integers(0, USED, (8, 16)).astype(np.int64))
    out = tmp_path / "model.int8.onnx"
    octet("convert", path, "--int8", "--calibration-data", tmp_path / "calib.npz", "-o", out, "--eval-fraction", "0")
    assert out.stat().st_size < 10 * 1024 * 1024, "the weights stay out of the model file"
    onnx.checker.check_model(str(out), full_check=True)
    quantized = onnx.load(str(out), load_external_data=False)
    table = next(i for i in quantized.graph.initializer if i.name == "embeddings")
    assert table.data_location == TensorProto.EXTERNAL
    location = next(e.value for e in table.external_data if e.key == "location")
    assert (tmp_path / location).stat().st_size >= ROWS * WIDTH * 4
    assert "DequantizeLinear" in {n.op_type for n in quantized.graph.node}
    feeds = {"input_ids": rng.integers(0, USED, (2, 16)).astype(np.int64)}
    plain = ort.SessionOptions()
    plain.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    want = ort.InferenceSession(str(out), plain, providers=["CPUExecutionProvider"]).run(["logits"], feeds)[0]
    np.savez(tmp_path / "in.npz", **feeds)
    octet("run", out, "--load-inputs", tmp_path / "in.npz", "--save-outputs", tmp_path / "out.npz")
    got = np.load(tmp_path / "out.npz")["logits"]
    assert np.abs(got - want).max() <= 1e-5 * max(1.0, float(np.abs(want).max()))
    for name in os.listdir(tmp_path):
        if name.startswith("model.int8") or name == "model.weights":
            (tmp_path / name).unlink()
