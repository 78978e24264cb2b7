"""`octet compare` against the same metrics computed with NumPy on ONNX Runtime's runs of the
FP32 and Q/DQ models (every compared value exposed as a graph output)."""
import json

import browser
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

import models


def expose(model, names):
    """The model with `names` added as graph outputs (types left to ONNX Runtime)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    present = {o.name for o in m.graph.output}
    m.graph.output.extend(helper.make_empty_tensor_value_info(n) for n in names if n not in present)
    return m


def run_all(model, feeds_list, names):
    session = ort.InferenceSession(expose(model, names).SerializeToString(), providers=["CPUExecutionProvider"],
                                   sess_options=_no_fusion())
    outputs = [o.name for o in session.get_outputs()]
    return [dict(zip(outputs, session.run(None, feeds))) for feeds in feeds_list]


def _no_fusion():
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return options


def sqnr(pairs):
    signal = sum(float(np.sum(a.astype(np.float64) ** 2)) for a, _ in pairs)
    noise = sum(float(np.sum((a.astype(np.float64) - b) ** 2)) for a, b in pairs)
    return 10 * np.log10(signal / noise) if noise > 0 else None


def cosine(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-300))


@pytest.mark.parametrize("name", ["encoder", "cnn"])
def test_compare_matches_numpy_on_onnx_runtime(tmp_path, octet, name):
    if name == "encoder":
        model, samples = models.mini_encoder(17), models.encoder_feeds(12, 9, seed=2)
    else:
        rng = np.random.default_rng(4)
        model, samples = models.cnn_constants(11), {"images": rng.standard_normal((12, 3, 16, 16)).astype(np.float32)}
    onnx.save(model, str(tmp_path / "model.onnx"))
    np.savez(tmp_path / "calib.npz", **samples)
    octet("convert", tmp_path / "model.onnx", "--int8", "--calibration-data", tmp_path / "calib.npz", "-o", tmp_path / "q.onnx")
    report = json.loads(octet("compare", tmp_path / "model.onnx", tmp_path / "q.onnx", "--data", tmp_path / "calib.npz",
                              "--json").stdout)
    assert report["samples"] == 12
    quantized = onnx.load(str(tmp_path / "q.onnx"))
    nodes = report["nodes"]
    assert nodes, "no quantized node was compared"
    values = [n["output"] for n in nodes]
    # Octet compares a quantized node's output with the FP32 model's value of the same name
    # (a Conv that absorbed a BatchNormalization takes the BatchNormalization's output name).
    feeds_list = [{k: v[i:i + 1] for k, v in samples.items()} for i in range(12)]
    fp32 = run_all(model, feeds_list, values)
    int8 = run_all(quantized, feeds_list, values)
    sqnrs = [n["sqnr"] for n in nodes]
    assert sqnrs == sorted(sqnrs, key=lambda v: float("inf") if v is None else v), "nodes are not sorted by damage"
    for node in nodes:
        pairs = [(f[node["output"]], q[node["output"]]) for f, q in zip(fp32, int8)]
        expected = sqnr(pairs)
        assert (expected is None) == (node["sqnr"] is None)
        if expected is not None:
            assert abs(node["sqnr"] - expected) < 0.5, (node, expected)
        mean_cosine = np.mean([cosine(a, b) for a, b in pairs])
        assert abs(node["meanCosine"] - mean_cosine) < 1e-3, (node, mean_cosine)
    for output in report["outputs"]:
        pairs = [(f[output["name"]], q[output["name"]]) for f, q in zip(fp32, int8)]
        assert abs(output["sqnr"] - sqnr(pairs)) < 0.5
        assert abs(output["meanCosine"] - np.mean([cosine(a, b) for a, b in pairs])) < 1e-3


def sabotaged_cache(tmp_path, octet):
    """model.onnx (the mini encoder), calib.npz and bad.calib: a TensorRT cache whose range for
    the input of one MatMul (returned) is 50× too narrow."""
    import struct
    model = models.mini_encoder(17)
    onnx.save(model, str(tmp_path / "model.onnx"))
    np.savez(tmp_path / "calib.npz", **models.encoder_feeds(32, 9, seed=2))
    octet("convert", tmp_path / "model.onnx", "--int8", "--calibration-data", tmp_path / "calib.npz", "-o", tmp_path / "plain.onnx",
          "--calibration-cache", tmp_path / "good.calib")
    victim = next(n for n in model.graph.node if n.op_type == "MatMul" and n.name and n.input[0].startswith("add"))
    lines = []
    for line in (tmp_path / "good.calib").read_text().splitlines():
        if line.startswith(victim.input[0] + ":"):
            scale = struct.unpack(">f", bytes.fromhex(line.split(": ")[1]))[0]
            line = f"{victim.input[0]}: {struct.pack('>f', scale / 50).hex()}"
        lines.append(line)
    (tmp_path / "bad.calib").write_text("\n".join(lines) + "\n")
    return model, victim


def test_target_metric_reaches_the_task_accuracy(tmp_path, octet):
    """--target-metric top1 --max-drop D on the sabotaged cache: labels are FP32's own answers
    (ONNX Runtime's arg-max of the class-score output), so FP32 scores 100 %; INT8 starts more
    than D points lower, and the search stops once ONNX Runtime, running the written model,
    finds it within D points, with the clipped MatMul back in FP32."""
    model, victim = sabotaged_cache(tmp_path, octet)
    feeds = dict(np.load(tmp_path / "calib.npz"))
    scores = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"]).run(["pooler_output"], feeds)[0]
    np.save(tmp_path / "labels.npy", scores.argmax(1))
    common = ["convert", tmp_path / "model.onnx", "--int8", "--calibration-cache", tmp_path / "bad.calib",
              "--eval-data", tmp_path / "calib.npz", "--eval-labels", tmp_path / "labels.npy"]
    octet(*common, "-o", tmp_path / "damaged.onnx", "--report", tmp_path / "damaged.json")
    before = json.loads((tmp_path / "damaged.json").read_text())["evaluation"]["taskAccuracy"]
    drop = 3.0
    assert before["fp32"] == 1 and (before["fp32"] - before["int8"]) * 100 > drop, before
    octet(*common, "-o", tmp_path / "fixed.onnx", "--report", tmp_path / "fixed.json", "--target-metric", "top1", "--max-drop", str(drop))
    fixed = json.loads((tmp_path / "fixed.json").read_text())
    assert victim.name in [s["node"] for s in fixed["fallback"] if s["action"] == "fp32"]
    got = ort.InferenceSession(str(tmp_path / "fixed.onnx"), providers=["CPUExecutionProvider"]).run(["pooler_output"], feeds)[0]
    accuracy = float((got.argmax(1) == scores.argmax(1)).mean())
    assert (1 - accuracy) * 100 <= drop
    assert fixed["evaluation"]["taskAccuracy"]["int8"] == pytest.approx(accuracy, abs=1 / 32 + 1e-9)
    assert fixed["fallback"][-1]["taskAccuracy"] == fixed["evaluation"]["taskAccuracy"]["int8"]


def test_target_cosine_returns_the_damaged_node_to_fp32(tmp_path, octet):
    """A TensorRT cache whose range for one MatMul input is 50× too narrow (by construction) makes
    that MatMul the damage; --target-cosine returns exactly it to FP32, reaches the target and
    writes a model ONNX Runtime accepts."""
    model, victim = sabotaged_cache(tmp_path, octet)
    common = ["convert", tmp_path / "model.onnx", "--int8", "--calibration-cache", tmp_path / "bad.calib",
              "--eval-data", tmp_path / "calib.npz"]
    octet(*common, "-o", tmp_path / "damaged.onnx", "--report", tmp_path / "damaged.json")
    damaged = json.loads((tmp_path / "damaged.json").read_text())["evaluation"]
    before = min(o["meanCosine"] for o in damaged["outputs"])
    assert damaged["nodes"][0]["node"] == victim.name, "the clipped MatMul ranks first"
    target = min(0.9995, before + (1 - before) / 2)
    assert before < target
    octet(*common, "-o", tmp_path / "fixed.onnx", "--report", tmp_path / "fixed.json", "--report", tmp_path / "fixed.html",
          "--target-cosine", str(target))
    fixed = json.loads((tmp_path / "fixed.json").read_text())
    assert [step["node"] for step in fixed["fallback"]] == [victim.name]
    assert 0.8 < fixed["fallback"][0]["int8MACFraction"] < 1 and fixed["evaluation"]["macs"]["int8Fraction"] == fixed["fallback"][0]["int8MACFraction"]
    # The page lists the step in its fallback table and says why it has no histograms.
    dom, console, _ = browser.render(tmp_path / "fixed.html", height=800)
    assert console == []
    fallback = dom[dom.index('id="fallback"'):dom.index('id="histograms"')]
    assert f"<td>{victim.name}</td>" in fallback and "--exclude-nodes" in fallback
    assert "no histograms" in dom[dom.index('id="histograms"'):]
    assert min(o["meanCosine"] for o in fixed["evaluation"]["outputs"]) >= target
    written = onnx.load(str(tmp_path / "fixed.onnx"))
    onnx.checker.check_model(written, full_check=True)
    producers = {o: n.op_type for n in written.graph.node for o in n.output}
    node = next(n for n in written.graph.node if n.name == victim.name)
    assert all(producers.get(i) != "DequantizeLinear" for i in node.input), "the returned node reads float inputs"
    ort.InferenceSession(str(tmp_path / "fixed.onnx"), providers=["CPUExecutionProvider"])


def test_target_cosine_tries_another_range_method_first(tmp_path, octet):
    """Ranges at the 50th percentile clip half of every activation (damage by construction).
    --target-cosine's first step must be the cheap fix, another range method for the worst
    node's input, and the range it picks must be what that method gives on the values ONNX
    Runtime computes for the tensor (NumPy reference of SPEC's algorithms); the calibration
    cache written holds the changed range; the target is reached."""
    import struct

    import calibration_reference as reference
    model = models.mini_encoder(17)
    onnx.save(model, str(tmp_path / "model.onnx"))
    feeds = models.encoder_feeds(32, 9, seed=2)
    np.savez(tmp_path / "calib.npz", **feeds)
    common = ["convert", tmp_path / "model.onnx", "--int8", "--calibration-data", tmp_path / "calib.npz", "--eval-data", tmp_path / "calib.npz",
              "--calibration-method", "percentile", "--percentile", "50"]
    octet(*common, "-o", tmp_path / "clipped.onnx", "--report", tmp_path / "clipped.json")
    before = min(o["meanCosine"] for o in json.loads((tmp_path / "clipped.json").read_text())["evaluation"]["outputs"])
    target = min(0.999, before + (1 - before) * 0.9)
    octet(*common, "-o", tmp_path / "fixed.onnx", "--report", tmp_path / "fixed.json", "--calibration-cache", tmp_path / "fixed.calib",
          "--target-cosine", str(target))
    fixed = json.loads((tmp_path / "fixed.json").read_text())
    steps = fixed["fallback"]
    assert steps and steps[0]["action"] == "range", steps
    assert min(o["meanCosine"] for o in fixed["evaluation"]["outputs"]) >= target
    ranged = [s for s in steps if s["action"] == "range"]
    for step in ranged:
        method = step["method"].split()[0]
        values = np.concatenate([r[step["tensor"]].ravel() for r in run_all(model, [feeds], [step["tensor"]])])
        expected, _ = reference.amax(method, values, float(step["method"].split()[1]) if method == "percentile" else 99.99)
        assert step["amax"] == pytest.approx(expected, rel=1e-6), step
        scale = next(line for line in (tmp_path / "fixed.calib").read_text().splitlines() if line.startswith(step["tensor"] + ":"))
        assert struct.unpack(">f", bytes.fromhex(scale.split(": ")[1]))[0] == pytest.approx(expected / 127, rel=1e-6)
    # Every other tensor keeps its range (50th percentile; Softmax outputs their largest value).
    changed = {s["tensor"] for s in ranged}
    clipped = {r["name"]: r for r in json.loads((tmp_path / "clipped.json").read_text())["ranges"]}
    assert [r for r in fixed["ranges"] if r["name"] not in changed] == [r for r in clipped.values() if r["name"] not in changed]


def fake_quantize(x, scale, zero, axis=None):
    if axis is not None and np.ndim(scale) == 1:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    q = np.clip(np.rint(x / scale) + zero, -128, 127)
    return ((q - zero) * scale).astype(np.float32)


def test_isolated_sensitivity_matches_numpy(tmp_path, octet):
    """The cheap sensitivity pass: each quantized MatMul's SQNR when it alone is quantized, on the
    first 8 evaluation samples, equals NumPy's: the FP32 inputs from ONNX Runtime, fake-quantized
    with the Q/DQ model's own scales (per channel for weights), multiplied, against FP32."""
    from onnx import numpy_helper
    model = models.mini_encoder(17)
    onnx.save(model, str(tmp_path / "model.onnx"))
    feeds = models.encoder_feeds(16, 9, seed=4)
    np.savez(tmp_path / "data.npz", **feeds)
    octet("convert", tmp_path / "model.onnx", "--int8", "--calibration-data", tmp_path / "data.npz", "--eval-data", tmp_path / "data.npz",
          "-o", tmp_path / "int8.onnx", "--report", tmp_path / "report.json")
    isolated = {n["node"]: n for n in json.loads((tmp_path / "report.json").read_text())["evaluation"]["isolatedNodes"]}
    qdq = onnx.load(str(tmp_path / "int8.onnx"))
    inits = {i.name: numpy_helper.to_array(i) for i in qdq.graph.initializer}
    producer = {o: n for n in qdq.graph.node for o in n.output}
    first8 = [{k: v[i:i + 1] for k, v in feeds.items()} for i in range(8)]
    checked = 0
    for node in qdq.graph.node:
        if node.op_type != "MatMul" or node.name not in isolated:
            continue
        sources = []
        for name in node.input:
            dq = producer[name]
            assert dq.op_type == "DequantizeLinear"
            q = producer[dq.input[0]]
            axis = next((a.i for a in dq.attribute if a.name == "axis"), None)
            sources.append((q.input[0], inits[dq.input[1]], inits[dq.input[2]].astype(np.float32), axis))
        activations = [s[0] for s in sources if s[0] not in inits]
        runs = run_all(model, first8, activations + [node.output[0]])
        signal = noise = 0.0
        for run in runs:
            a, b = (fake_quantize(run[x] if x in run else inits[x], s, z, axis if np.ndim(s) == 1 else None) for x, s, z, axis in sources)
            alone = np.matmul(a, b)
            reference = run[node.output[0]].astype(np.float64)
            signal += float(np.sum(reference ** 2))
            noise += float(np.sum((reference - alone) ** 2))
        expected = 10 * np.log10(signal / noise)
        assert isolated[node.name]["sqnr"] == pytest.approx(expected, abs=1e-3), node.name
        checked += 1
    assert checked >= 4


def outlier_model():
    """x [batch, 64] → Mul by c (channels 5 and 17 × 60: activation outliers by construction)
    → MatMul 'proj' [64, 32] → Relu → MatMul 'head' [32, 16]."""
    rng = np.random.default_rng(7)
    c = np.ones(64, np.float32)
    c[[5, 17]] = 60
    w1 = (rng.standard_normal((64, 32)) / 8).astype(np.float32)
    w2 = (rng.standard_normal((32, 16)) / 6).astype(np.float32)
    nodes = [helper.make_node("Mul", ["x", "c"], ["scaled"], name="scale_up"),
             helper.make_node("MatMul", ["scaled", "w1"], ["hidden"], name="proj"),
             helper.make_node("Relu", ["hidden"], ["relu"], name="relu"),
             helper.make_node("MatMul", ["relu", "w2"], ["out"], name="head")]
    graph = helper.make_graph(nodes, "outliers", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 64])],
                              [helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, ["batch", 16])],
                              [onnx.numpy_helper.from_array(a, n) for a, n in ((c, "c"), (w1, "w1"), (w2, "w2"))])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_smooth_alpha_migrates_channel_outliers(tmp_path, octet):
    """Two activation channels 60× the others (by construction) before MatMul 'proj': per-tensor
    INT8 cannot serve both. With --smooth-alpha 0.5 the search smooths 'proj' (a Mul by 1/s
    before it, weight rows × s, s = sqrt(max|x_k| / max|w_k|)), keeps every MAC in INT8 and
    reaches the target; ONNX Runtime, running the written model, agrees with FP32 to the target,
    and the smoothing factors match the formula on the calibration data's channel maxima."""
    import onnx.numpy_helper as nh
    model = outlier_model()
    onnx.save(model, str(tmp_path / "model.onnx"))
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((128, 64)).astype(np.float32))
    np.savez(tmp_path / "eval.npz", x=rng.standard_normal((64, 64)).astype(np.float32))
    common = ["convert", tmp_path / "model.onnx", "--int8", "--calibration-data", tmp_path / "calib.npz", "--eval-data", tmp_path / "eval.npz"]
    octet(*common, "-o", tmp_path / "plain.onnx", "--report", tmp_path / "plain.json")
    before = json.loads((tmp_path / "plain.json").read_text())["evaluation"]["outputs"][0]["meanCosine"]
    target = min(0.9995, before + (1 - before) * 0.8)
    assert before < target
    octet(*common, "-o", tmp_path / "smooth.onnx", "--report", tmp_path / "smooth.json", "--target-cosine", str(target), "--smooth-alpha", "0.5")
    report = json.loads((tmp_path / "smooth.json").read_text())
    smoothed = [s for s in report["fallback"] if s["action"] == "smooth"]
    assert [s["node"] for s in smoothed] == ["proj"], report["fallback"]
    assert all(s["action"] != "fp32" for s in report["fallback"]) and report["evaluation"]["macs"]["int8Fraction"] == 1
    written = onnx.load(str(tmp_path / "smooth.onnx"))
    onnx.checker.check_model(written, full_check=True)
    feeds = {"x": np.load(tmp_path / "eval.npz")["x"]}
    fp32 = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"]).run(["out"], feeds)[0]
    int8 = ort.InferenceSession(str(tmp_path / "smooth.onnx"), providers=["CPUExecutionProvider"]).run(["out"], feeds)[0]
    cosines = [cosine(a, b) for a, b in zip(fp32, int8)]
    assert np.mean(cosines) >= target
    # The factors: the Mul before 'proj' multiplies by 1/s, s = sqrt(max|x_k| / max|w_k|) on the calibration data.
    inits = {i.name: nh.to_array(i) for i in written.graph.initializer}
    mul = next(n for n in written.graph.node if n.op_type == "Mul" and n.name.startswith("proj/smooth"))
    x_max = np.abs(np.load(tmp_path / "calib.npz")["x"] * nh.to_array(model.graph.initializer[0])).max(axis=0)
    w_max = np.abs(nh.to_array(model.graph.initializer[1])).max(axis=1)
    np.testing.assert_allclose(1 / inits[mul.input[1]], np.sqrt(x_max / w_max), rtol=1e-5)


def test_target_metric_script(tmp_path, octet):
    """--target-metric script.py:function: Octet hands the script each model's outputs (one dict
    per sample) and aims at its score. The script here scores top-1 in percent against labels it
    reads itself (FP32's own answers); on the sabotaged cache the search returns the clipped MatMul
    and ONNX Runtime finds the written model within the allowed drop. A script that fails or
    returns no number stops convert with its message and writes no model."""
    model, victim = sabotaged_cache(tmp_path, octet)
    feeds = dict(np.load(tmp_path / "calib.npz"))
    scores = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"]).run(["pooler_output"], feeds)[0]
    np.save(tmp_path / "answers.npy", scores.argmax(1))
    (tmp_path / "metric.py").write_text(
        "import os\nimport numpy as np\n"
        "ANSWERS = np.load(os.path.join(os.path.dirname(__file__), 'answers.npy'))\n"
        "def top1_percent(outputs):\n"
        "    guesses = np.concatenate([o['pooler_output'].argmax(1) for o in outputs])\n"
        "    print('scoring', len(outputs), 'samples')\n"
        "    return 100.0 * float((guesses == ANSWERS).mean())\n"
        "def broken(outputs):\n"
        "    raise ValueError('no labels here')\n"
        "def word(outputs):\n"
        "    return 'great'\n")
    common = ["convert", tmp_path / "model.onnx", "--int8", "--calibration-cache", tmp_path / "bad.calib", "--eval-data", tmp_path / "calib.npz"]
    drop = 3.0
    octet(*common, "-o", tmp_path / "fixed.onnx", "--report", tmp_path / "fixed.json",
          "--target-metric", f"{tmp_path / 'metric.py'}:top1_percent", "--max-drop", str(drop))
    fixed = json.loads((tmp_path / "fixed.json").read_text())
    assert fixed["evaluation"]["metric"]["fp32"] == 100
    assert victim.name in [s["node"] for s in fixed["fallback"] if s["action"] == "fp32"]
    got = ort.InferenceSession(str(tmp_path / "fixed.onnx"), providers=["CPUExecutionProvider"]).run(["pooler_output"], feeds)[0]
    accuracy = 100.0 * float((got.argmax(1) == scores.argmax(1)).mean())
    assert 100 - accuracy <= drop and fixed["evaluation"]["metric"]["int8"] == pytest.approx(accuracy)
    for function, message in (("broken", "ValueError: no labels here"), ("word", "returned 'great'; return one number")):
        out = tmp_path / f"{function}.onnx"
        result = octet(*common, "-o", out, "--target-metric", f"{tmp_path / 'metric.py'}:{function}", check=False)
        assert result.returncode != 0 and message in result.stderr and "metric.py" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr.split("Error:")[0] and not out.exists()
