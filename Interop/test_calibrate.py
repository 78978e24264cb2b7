"""`octet calibrate` against an independent reference: ONNX Runtime runs the same models with
every intermediate value exposed, and SPEC §4's algorithms written in NumPy
(calibration_reference.py) pick the ranges from those activations. Also: loader scripts run
once and Ctrl-C leaves nothing behind. (Corrupted stats files and caches are in
test_engine_robustness.py.)"""
import base64
import json
import os
import signal
import subprocess
import time

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import calibration_reference as reference
import models


def encoder_samples(count, seed=0, length=9):
    rng = np.random.default_rng(seed)
    mask = np.ones((count, length), np.int64)
    for i in range(count):
        mask[i, length - 1 - i % 4:] = 0
    return {"input_ids": rng.integers(0, 50, (count, length)).astype(np.int64), "attention_mask": mask,
            "token_type_ids": (np.arange(length) >= length // 2).astype(np.int64)[None].repeat(count, 0)}


def image_samples(count, seed=1):
    return {"images": np.random.default_rng(seed).standard_normal((count, 3, 16, 16)).astype(np.float32)}


CASES = {
    "encoder_opset17": (lambda: models.mini_encoder(17), lambda: encoder_samples(24)),
    "encoder_opset12_constants": (lambda: models.mini_encoder(12, constants_as_nodes=True), lambda: encoder_samples(16, seed=3)),
    "cnn_constants_opset11": (lambda: models.cnn_constants(11), lambda: image_samples(24)),
}


def activations(model, samples):
    """Every float value the model computes (graph inputs and node outputs, not Constant
    nodes), per tensor concatenated over the samples, from ONNX Runtime run sample by sample."""
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    constants = {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    names = [o for n in model.graph.node if n.op_type != "Constant" for o in n.output if o]
    existing = {o.name for o in model.graph.output}
    exposed.graph.output.extend([onnx.ValueInfoProto(name=n) for n in names if n not in existing])
    session = ort.InferenceSession(exposed.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs()]
    count = len(next(iter(samples.values())))
    collected = {}
    for i in range(count):
        feed = {k: v[i:i + 1] for k, v in samples.items()}
        for name, value in list(feed.items()) + list(zip(outputs, session.run(outputs, feed))):
            if name not in constants and np.asarray(value).dtype.kind == "f":
                collected.setdefault(name, []).append(np.asarray(value, np.float32).ravel())
    return {k: np.concatenate(v) for k, v in collected.items()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ranges_match_the_numpy_reference(tmp_path, octet, case):
    build, make = CASES[case]
    model = build()
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    samples = make()
    np.savez(tmp_path / "calib.npz", **samples)
    octet("calibrate", path, "--calibration-data", tmp_path / "calib.npz", "--batch-size", 4, "--save-stats", tmp_path / "stats.json")
    expected = activations(model, samples)
    octet_histograms = {}
    for tensor in json.loads((tmp_path / "stats.json").read_text())["tensors"]:
        counts = np.frombuffer(base64.b64decode(tensor["counts"]), "<u8").astype(np.int64)
        octet_histograms[tensor["name"]] = (np.pad(counts, (0, reference.BINS - counts.size)), tensor["binExponent"])
    # Softmax outputs keep their observed maximum whatever the method (README, "Range methods").
    softmax = {o for n in model.graph.node if n.op_type == "Softmax" for o in n.output}
    for chosen in ("minmax", "entropy", "percentile", "mse"):
        method = chosen
        octet("calibrate", path, "--load-stats", tmp_path / "stats.json", "--calibration-method", method,
              "--ranges-json", tmp_path / f"{chosen}.json")
        ranges = {t["name"]: t for t in json.loads((tmp_path / f"{chosen}.json").read_text())["tensors"]}
        assert set(ranges) == set(expected), f"{chosen}: tensors differ: {set(ranges) ^ set(expected)}"
        for name, values in expected.items():
            method = "minmax" if name in softmax else chosen
            assert ranges[name]["method"].split()[0] == method, name
            want, width = reference.amax(method, values)
            got = ranges[name]["amax"]
            finite = values[np.isfinite(values)]
            assert ranges[name]["nonFinite"] == values.size - finite.size, name
            if finite.size:
                assert ranges[name]["min"] == pytest.approx(float(finite.min()), rel=1e-5, abs=1e-6), name
                assert ranges[name]["max"] == pytest.approx(float(finite.max()), rel=1e-5, abs=1e-6), name
            if method == "minmax":
                assert got == pytest.approx(want, rel=1e-5, abs=1e-6), f"{case} {name}: minmax {got} vs {want}"
                continue
            # The algorithm: the reference on Octet's own histogram picks exactly Octet's amax.
            counts, exponent = octet_histograms[name]
            if exponent is not None and got != reference.from_counts(method, counts, 2.0 ** exponent):
                # Only MSE may differ, on a near-tie: Octet fake-quantizes in float32, the reference in float64.
                assert method == "mse", f"{case} {name}: {method} on Octet's histogram"
                scores = reference.mse_scores(counts, 2.0 ** exponent)
                assert scores[int(got / 2.0 ** exponent) - reference.LEVELS] <= scores.min() * (1 + 1e-5), f"{case} {name}: mse"
            # The statistics: ONNX Runtime's activations give the same range within a bin, or,
            # where a few values sit on the other side of a bin edge and the search has two
            # near-equal minima, Octet's choice scores within 0.1 % of the reference's best.
            if abs(got - want) > width * 1.001 + 1e-6 * want:
                assert method in ("entropy", "mse"), f"{case} {name}: {method} {got} vs {want} (bin width {width})"
                ort_counts, _ = reference.histogram(values)
                assert np.abs(ort_counts - counts).sum() <= max(8, 1e-4 * ort_counts.sum()), f"{case} {name}: histograms differ"
                scores = (reference.entropy_scores(ort_counts) if method == "entropy"
                          else reference.mse_scores(ort_counts, width))
                index = int(round(got / width - (0.5 if method == "mse" else 0))) - reference.LEVELS
                assert scores[index] <= scores.min() * 1.001 + 1e-12, f"{case} {name}: {method} {got} vs {want} is no near-tie"


def test_loader_script_runs_once_and_leaves_no_file(tmp_path, octet):
    path = tmp_path / "encoder.onnx"
    onnx.save(models.mini_encoder(17), str(path))
    counter = tmp_path / "calls.txt"
    script = tmp_path / "loader.py"
    script.write_text(f"""
import numpy as np
def load_data():
    with open({str(counter)!r}, "a") as f:
        f.write("called\\n")
    rng = np.random.default_rng(0)
    for i in range(6):
        yield {{"input_ids": rng.integers(0, 50, (1, 5)), "attention_mask": np.ones((1, 5), np.int64),
               "token_type_ids": np.zeros((1, 5), np.int64)}}
""")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = dict(os.environ, TMPDIR=str(scratch), OCTET_PYTHON=os.environ.get("OCTET_PYTHON", os.sys.executable))
    binary = os.environ.get("OCTET", str(models_root() / ".build" / "debug" / "octet"))
    result = subprocess.run([binary, "calibrate", str(path), "--data-loader-script", str(script), "--ranges-json", str(tmp_path / "r.json")],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "on 6 samples" in result.stdout
    assert counter.read_text() == "called\n", "the script runs once for validation and calibration"
    assert list(scratch.iterdir()) == [], "the loader's driver file is removed"
    assert len(json.loads((tmp_path / "r.json").read_text())["tensors"]) > 10


def models_root():
    import pathlib
    return pathlib.Path(__file__).resolve().parent.parent


def test_interrupt_leaves_no_output(tmp_path, octet):
    path = tmp_path / "resnet.onnx"
    onnx.save(models.resnet(17), str(path))
    script = tmp_path / "loader.py"
    script.write_text("""
import numpy as np
def load_data():
    rng = np.random.default_rng(0)
    for i in range(400):
        yield {"images": rng.standard_normal((1, 3, 64, 64)).astype(np.float32)}
""")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, TMPDIR=str(scratch), OCTET_PYTHON=os.environ.get("OCTET_PYTHON", os.sys.executable))
    binary = os.environ.get("OCTET", str(models_root() / ".build" / "debug" / "octet"))
    process = subprocess.Popen([binary, "calibrate", str(path), "--data-loader-script", str(script), "--save-stats", str(out / "s.json"),
                                "--calibration-cache", str(out / "c.calib")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    # Interrupt while the loader is running and the model is being calibrated.
    deadline = time.time() + 60
    while time.time() < deadline and not any(scratch.iterdir()):
        time.sleep(0.1)
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, f"exit {process.returncode}: {stderr.decode()[-500:]}"
    assert list(out.iterdir()) == [], "no output, and no temporary file, is left"
    assert list(scratch.iterdir()) == [], "the loader's driver file is removed"
    time.sleep(0.5)
    left = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if str(script).encode() in f.read():
                    left.append(entry)
        except OSError:
            continue
    assert left == [], f"the loader script's Python process {left} outlived octet"
