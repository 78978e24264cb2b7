"""`octet demo` checked by ONNX Runtime: the Q/DQ model it writes passes onnx.checker (full
check), and ONNX Runtime, running the FP32 and the INT8 model on the held-out labelled samples,
finds the task accuracy Octet reported and INT8 within 1 point of FP32.

The demo runs once (OCTET_DEMO_OUTPUT names a folder where .ci/run already ran it with the
release build; otherwise it runs here, which takes minutes with a debug build)."""
import json
import pathlib

import numpy as np
import onnx
import onnxruntime as ort

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "Examples" / "stdlib-topics"


def ort_accuracy(model_path):
    feeds = dict(np.load(EXAMPLE / "eval.npz"))
    labels = np.load(EXAMPLE / "eval-labels.npy")
    logits = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"]).run(["logits"], feeds)[0]
    return float((logits.argmax(1) == labels).mean()), labels.size


def test_bundle_is_small_and_three_input():
    total = sum(f.stat().st_size for f in EXAMPLE.iterdir())
    assert total <= 5 * 1024 * 1024, f"the demo's files take {total} bytes"
    model = onnx.load(str(EXAMPLE / "model.onnx"))
    assert [i.name for i in model.graph.input] == ["input_ids", "attention_mask", "token_type_ids"]
    assert all(i.type.tensor_type.elem_type == onnx.TensorProto.INT64 for i in model.graph.input)


def test_demo_model_is_valid_and_keeps_accuracy_in_onnx_runtime(demo):
    quantized = demo / "model.int8.onnx"
    onnx.checker.check_model(onnx.load(str(quantized)), full_check=True)
    ops = {n.op_type for n in onnx.load(str(quantized)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    fp32, rows = ort_accuracy(EXAMPLE / "model.onnx")
    int8, _ = ort_accuracy(quantized)
    assert fp32 - int8 <= 0.01, f"ONNX Runtime: FP32 {fp32:.4f}, INT8 {int8:.4f}"
    task = json.loads((demo / "report.json").read_text())["evaluation"]["taskAccuracy"]
    assert task["rows"] == rows
    # Octet's engine and ONNX Runtime classify the same rows: FP32 identically up to a tie or
    # two, INT8 within three rows (the engines round a few activations to different steps).
    assert abs(task["fp32"] - fp32) * rows <= 2, (task, fp32)
    assert abs(task["int8"] - int8) * rows <= 3, (task, int8)


def test_demo_cache_comes_from_the_same_run(demo):
    header = (demo / "model.calib").read_text().splitlines()[0]
    assert header == "TRT-101303-EntropyCalibration2"
    sidecar = json.loads((demo / "model.calib.json").read_text())
    assert sidecar["samples"] == 256


def test_demo_int8_model_runs_like_onnx_runtime(demo, octet, tmp_path):
    feeds = {k: v[:64] for k, v in np.load(EXAMPLE / "eval.npz").items()}
    np.savez(tmp_path / "in.npz", **feeds)
    octet("run", demo / "model.int8.onnx", "--load-inputs", tmp_path / "in.npz", "--save-outputs", tmp_path / "out.npz")
    plain = ort.SessionOptions()
    plain.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    want = ort.InferenceSession(str(demo / "model.int8.onnx"), plain, providers=["CPUExecutionProvider"]).run(["logits"], feeds)[0]
    ranges = {t["name"]: t for t in json.loads((demo / "report.json").read_text())["ranges"]}
    step = ranges["logits"]["amax"] / 127
    got = np.load(tmp_path / "out.npz")["logits"]
    assert (np.abs(got - want) <= step + 1e-6).mean() >= 0.999
