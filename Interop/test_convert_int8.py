"""`octet convert --int8` on builder models: the Q/DQ model passes onnx.checker (full check),
runs in ONNX Runtime and in Octet's engine, the two agree within one quantization step of the
output on at least 99.9 % of its elements (ONNX Runtime running the graph as written; within
four steps of its optimized run, which differs from the unoptimized one as much), the output
is byte-identical from run to run, and a TensorRT cache alone is migrated to a Q/DQ model."""
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import models

ENGINE = models.engine_models()


def cases():
    rng = np.random.default_rng(3)

    def images(n, h=32, w=32, c=3, key="images"):
        return {key: rng.standard_normal((n, c, h, w)).astype(np.float32)}

    result = {
        "cnn_constants_opset11": (models.cnn_constants(11), images(16, 16, 16)),
        "cnn_constants_opset12": (models.cnn_constants(12), images(16, 16, 16)),
        "resnet_opset11_constants": (models.resnet(11, True), images(8)),
        "yolo_head_opset11": (models.yolo_head(11), images(8)),
        "unet_opset12_constants": (models.unet(12, True), images(8)),
        "crnn_opset11_constants": (models.crnn(11), images(8, 32, 40, 1, "image")),
    }
    result["audio_if_loop_lstm"] = (models.audio_control_flow(), {"features": rng.standard_normal((8, 12, 32)).astype(np.float32)})
    encoder = models.encoder_feeds(16, 9, seed=2)
    result["encoder_opset17"] = (models.mini_encoder(17), encoder)
    result["encoder_opset12_constants"] = (models.mini_encoder(12, True), encoder)
    return result


CASES = cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_qdq_model_is_valid_and_runs_like_onnx_runtime(tmp_path, octet, name):
    model, samples = CASES[name]
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    np.savez(tmp_path / "calib.npz", **samples)
    out = tmp_path / "model.int8.onnx"
    octet("convert", path, "--int8", "--calibration-data", tmp_path / "calib.npz", "-o", out,
          "--calibration-cache", tmp_path / "model.calib", "--ranges-json", tmp_path / "ranges.json")
    quantized = onnx.load(str(out))
    onnx.checker.check_model(quantized, full_check=True)
    kinds = [n.op_type for n in quantized.graph.node]
    assert "QuantizeLinear" in kinds and "DequantizeLinear" in kinds
    for node in quantized.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            zero_point = next(i for i in quantized.graph.initializer if i.name == node.input[2])
            assert zero_point.data_type == onnx.TensorProto.INT8
    ranges = {t["name"]: t for t in json.loads((tmp_path / "ranges.json").read_text())["tensors"]}
    feeds = samples
    np.savez(tmp_path / "in.npz", **feeds)
    octet("run", out, "--load-inputs", tmp_path / "in.npz", "--save-outputs", tmp_path / "out.npz")
    # ONNX Runtime as the graph is written (graph optimizations off), and as deployed (all on:
    # Conv fused with its activation and run in the NCHWc layout, DQ → MatMul as
    # MatMulIntegerToFloat, ...). The optimized run rounds differently: a value on a rounding
    # edge before a later Q lands one step apart and the step spreads, so ONNX Runtime's two
    # runs differ from each other by more than one output step on up to 1.2 % of elements.
    plain = ort.SessionOptions()
    plain.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    written = ort.InferenceSession(str(out), plain, providers=["CPUExecutionProvider"]).run(None, feeds)
    deployed = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, feeds)
    with np.load(tmp_path / "out.npz") as got:
        for output, want, fast in zip(quantized.graph.output, written, deployed):
            step = ranges[output.name]["amax"] / 127 if output.name in ranges else float(np.abs(want).max()) / 127
            mine = got[output.name]
            within_one = (np.abs(mine - want) <= step + 1e-6).mean()
            assert within_one >= 0.999, f"{name} {output.name}: {within_one:.4%} within one step ({step}) of ONNX Runtime"
            close = np.abs(mine - fast) <= 4 * step + 1e-6
            assert close.mean() >= 0.999, f"{name} {output.name}: {close.mean():.4%} within four steps of optimized ONNX Runtime"


def test_output_is_byte_identical_run_to_run(tmp_path, octet):
    model, samples = CASES["resnet_opset11_constants"]
    onnx.save(model, str(tmp_path / "model.onnx"))
    np.savez(tmp_path / "calib.npz", **samples)
    outputs = []
    for run in range(2):
        out = tmp_path / f"run{run}.onnx"
        octet("convert", tmp_path / "model.onnx", "--int8", "--calibration-data", tmp_path / "calib.npz", "-o", out,
              "--calibration-cache", tmp_path / f"run{run}.calib", "--threads", str(run + 1))
        outputs.append((out.read_bytes(), (tmp_path / f"run{run}.calib").read_bytes()))
    assert outputs[0] == outputs[1]


def test_tensorrt_cache_alone_migrates_to_qdq(tmp_path, octet):
    model, samples = CASES["cnn_constants_opset11"]
    onnx.save(model, str(tmp_path / "model.onnx"))
    np.savez(tmp_path / "calib.npz", **samples)
    octet("calibrate", tmp_path / "model.onnx", "--calibration-data", tmp_path / "calib.npz", "--calibration-cache", tmp_path / "full.calib")
    lines = (tmp_path / "full.calib").read_text().splitlines()
    # As TensorRT wrote it: no sidecar, one tensor missing, one name the model does not have.
    dropped = next(l.split(": ")[0] for l in lines[1:] if l.startswith("maxpool"))
    kept = [l for l in lines if not l.startswith(dropped + ":")] + ["not_in_model: 3c010204"]
    (tmp_path / "trt.calib").write_text("\n".join(kept) + "\n")
    result = octet("convert", tmp_path / "model.onnx", "--int8", "--calibration-cache", tmp_path / "trt.calib", "-o", tmp_path / "q.onnx")
    assert "has no Octet sidecar" in result.stderr
    assert f"'{dropped}' has no calibrated range" in result.stderr
    assert "1 cache entry names no tensor of the model: not_in_model" in result.stderr
    onnx.checker.check_model(onnx.load(str(tmp_path / "q.onnx")), full_check=True)
    ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"]).run(None, {"images": samples["images"][:1]})
    strict = octet("convert", tmp_path / "model.onnx", "--int8", "--calibration-cache", tmp_path / "trt.calib", "-o", tmp_path / "s.onnx",
                   "--strict", check=False)
    assert strict.returncode == 1 and "tensors the placement needs have no range" in strict.stderr
    assert not (tmp_path / "s.onnx").exists()


@pytest.mark.parametrize("name", ["resnet_opset11_constants", "encoder_opset17", "audio_if_loop_lstm"])
def test_weights_int8_is_smaller_and_computes_the_same(tmp_path, octet, name):
    model, samples = CASES[name]
    onnx.save(model, str(tmp_path / "model.onnx"))
    np.savez(tmp_path / "calib.npz", **samples)
    for variant, extra in (("float", []), ("int8", ["--weights-int8"])):
        octet("convert", tmp_path / "model.onnx", "--int8", "--calibration-data", tmp_path / "calib.npz", "-o", tmp_path / f"{variant}.onnx",
              "--eval-fraction", "0", *extra)
    packed = onnx.load(str(tmp_path / "int8.onnx"))
    onnx.checker.check_model(packed, full_check=True)
    weights = {i.name for i in packed.graph.initializer if i.data_type == onnx.TensorProto.INT8 and len(i.dims) >= 2}
    assert weights, "int8 weight initializers"
    assert not any(n.op_type == "QuantizeLinear" and n.input[0] in {i.name for i in model.graph.initializer} for n in packed.graph.node)
    plain = onnx.load(str(tmp_path / "float.onnx"))
    float_weights = {n.input[0] for n in plain.graph.node
                     if n.op_type == "QuantizeLinear" and any(a.name == "axis" for a in n.attribute)}
    float_bytes = sum(len(i.raw_data) or 4 * len(i.float_data) for i in plain.graph.initializer if i.name in float_weights)
    int8_bytes = sum(len(i.raw_data) or len(i.int32_data) for i in packed.graph.initializer if i.name in weights)
    assert int8_bytes * 4 == float_bytes, "each weight is stored in a quarter of the bytes"
    assert (tmp_path / "int8.onnx").stat().st_size < (tmp_path / "float.onnx").stat().st_size
    feeds = {k: v[:2] for k, v in samples.items()}
    a = ort.InferenceSession(str(tmp_path / "float.onnx"), providers=["CPUExecutionProvider"]).run(None, feeds)
    b = ort.InferenceSession(str(tmp_path / "int8.onnx"), providers=["CPUExecutionProvider"]).run(None, feeds)
    for want, got in zip(a, b):
        assert float(np.abs(want - got).max()) <= 1e-5 * max(1.0, float(np.abs(want).max()))


def test_qdq_inside_if_and_loop_bodies_where_observed(tmp_path, octet):
    """Calibrated on long clips only: the If's then-branch and the Loop body get Q/DQ, the
    else-branch only where its input comes from outside (observed); its own activation, never
    observed, stays float with the reason. Short clips then run the else-branch in both runtimes."""
    model = models.audio_control_flow()
    onnx.save(model, str(tmp_path / "model.onnx"))
    rng = np.random.default_rng(5)
    np.savez(tmp_path / "calib.npz", features=rng.standard_normal((8, 12, 32)).astype(np.float32))
    out = tmp_path / "q.onnx"
    octet("convert", tmp_path / "model.onnx", "--int8", "--calibration-data", tmp_path / "calib.npz", "-o", out,
          "--report", tmp_path / "report.json", "--eval-fraction", "0")
    decisions = {n["node"]: n for n in json.loads((tmp_path / "report.json").read_text())["nodes"]}
    assert decisions["'long/MatMul_1' (MatMul) in 'by_length' (If).then_branch"]["quantized"]
    assert decisions["'refine/MatMul' (MatMul) in 'refine_loop' (Loop).body"]["quantized"]
    assert decisions["'short/MatMul' (MatMul) in 'by_length' (If).else_branch"]["quantized"]
    skipped = decisions["'short/MatMul_1' (MatMul) in 'by_length' (If).else_branch"]
    assert not skipped["quantized"] and "'short_tanh' was not observed" in skipped["reason"]
    quantized = onnx.load(str(out))
    onnx.checker.check_model(quantized, full_check=True)
    bodies = {a.name: a.g for n in quantized.graph.node for a in n.attribute if a.type == onnx.AttributeProto.GRAPH}
    assert sum(n.op_type == "DequantizeLinear" for n in bodies["then_branch"].node) == 4
    assert sum(n.op_type == "DequantizeLinear" for n in bodies["else_branch"].node) == 2
    assert sum(n.op_type == "DequantizeLinear" for n in bodies["body"].node) == 2
    ranges = {t["name"]: t for t in json.loads((tmp_path / "report.json").read_text())["ranges"]}
    step = ranges["logits"]["amax"] / 127
    plain = ort.SessionOptions()
    plain.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(out), plain, providers=["CPUExecutionProvider"])
    for time in (12, 6):
        feeds = {"features": rng.standard_normal((4, time, 32)).astype(np.float32)}
        np.savez(tmp_path / "in.npz", **feeds)
        octet("run", out, "--load-inputs", tmp_path / "in.npz", "--save-outputs", tmp_path / "out.npz")
        want = session.run(["logits"], feeds)[0]
        got = np.load(tmp_path / "out.npz")["logits"]
        assert (np.abs(got - want) <= step + 1e-6).mean() >= 0.999, time
