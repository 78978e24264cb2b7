"""Calibration data in every layout users have, written by NumPy, Polygraphy and onnx
themselves, checked with `octet data check` against a three-input BERT-style model."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import models

NAMES = ("input_ids", "attention_mask", "token_type_ids")


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "encoder.onnx"
    onnx.save(models.mini_encoder(17), str(path))
    return path


def samples(count=6, seed=0, lengths=(5, 7)):
    rng = np.random.default_rng(seed)
    result = []
    for i in range(count):
        length = lengths[i % len(lengths)]
        mask = np.ones((1, length), np.int64)
        mask[0, -1] = 0
        result.append({"input_ids": rng.integers(0, 50, (1, length)).astype(np.int64), "attention_mask": mask,
                       "token_type_ids": np.zeros((1, length), np.int64)})
    return result


def check(octet, model, *data, expect_ok=True, extra=(), env=None):
    args = ["data", "check", model, "--json", *extra]
    for item in data:
        args += ["--calibration-data", item]
    result = octet(*args, check=False) if env is None else run_with_env(octet, args, env)
    if expect_ok:
        assert result.returncode == 0, result.stderr
    return result, json.loads(result.stdout) if result.stdout.strip() else None


def run_with_env(octet, args, env):
    binary = os.environ.get("OCTET", str(pathlib.Path(__file__).resolve().parent.parent / ".build" / "debug" / "octet"))
    return subprocess.run([binary, *map(str, args)], capture_output=True, text=True, env={**os.environ, **env})


def expected_stats(feeds):
    return {name: (min(int(f[name].min()) for f in feeds), max(int(f[name].max()) for f in feeds)) for name in NAMES}


def assert_matches(report, feeds):
    assert report["samples"] == len(feeds)
    assert report["problems"] == []
    assert report["dryRun"]["ran"] and report["dryRun"]["error"] is None
    stats = expected_stats(feeds)
    for entry in report["inputs"]:
        assert (entry["minimum"], entry["maximum"]) == stats[entry["name"]]
        assert entry["samples"] == len(feeds) and entry["matches"]


def test_stacked_npz_both_compressions(tmp_path, octet, encoder):
    feeds = samples(lengths=(6,))
    stacked = {name: np.concatenate([f[name] for f in feeds]) for name in NAMES}
    np.savez(tmp_path / "plain.npz", **stacked)
    np.savez_compressed(tmp_path / "packed.npz", **stacked)
    for name in ("plain.npz", "packed.npz"):
        _, report = check(octet, encoder, tmp_path / name)
        assert_matches(report, feeds)
        assert report["inputs"][0]["shapeRange"] == [[1, 1], [6, 6]]


def test_npy_folder_and_per_sample_npz(tmp_path, octet, encoder):
    feeds = samples()
    folder = tmp_path / "per_sample"
    folder.mkdir()
    for i, feed in enumerate(feeds):
        np.savez(folder / f"sample_{i:04d}.npz", **feed)
    _, report = check(octet, encoder, folder)
    assert_matches(report, feeds)
    assert report["inputs"][0]["shapeRange"] == [[1, 1], [5, 7]], "variable sequence lengths are normal"
    npy = tmp_path / "npy"
    npy.mkdir()
    fixed = samples(lengths=(4,))
    for name in NAMES:
        np.save(npy / f"{name}.npy", np.concatenate([f[name] for f in fixed]))
    _, report = check(octet, encoder, npy)
    assert_matches(report, fixed)


def test_polygraphy_files_current_and_legacy(tmp_path, octet, encoder):
    from polygraphy.json import save_json
    feeds = samples()
    save_json(feeds[:4], str(tmp_path / "a.json"))
    save_json(feeds[4:], str(tmp_path / "b.json"))
    legacy = (tmp_path / "b.json").read_text().replace('"polygraphy_class"', '"polygraphy_serialized_json_type"')
    (tmp_path / "legacy.json").write_text(legacy)
    _, report = check(octet, encoder, tmp_path / "a.json", tmp_path / "legacy.json")
    assert_matches(report, feeds)


def test_onnx_test_data_sets(tmp_path, octet, encoder):
    feeds = samples()
    for i, feed in enumerate(feeds):
        folder = tmp_path / "sets" / f"test_data_set_{i}"
        folder.mkdir(parents=True)
        # Written in reverse order: matching is by the name stored in each tensor.
        for k, name in enumerate(reversed(NAMES)):
            (folder / f"input_{k}.pb").write_bytes(numpy_helper.from_array(feed[name], name).SerializeToString())
    _, report = check(octet, encoder, tmp_path / "sets")
    assert_matches(report, feeds)


LOADER = """
import numpy as np

def load_data():
    rng = np.random.default_rng(0)
    for i in range(5):
        length = 4 + i
        print("loading sample", i)  # prints must not disturb the data stream
        yield {"input_ids": rng.integers(0, 50, (1, length)), "attention_mask": np.ones((1, length), np.int32),
               "token_type_ids": np.zeros((length,), np.int64)}

def broken():
    yield {"input_ids": np.zeros((1, 3), np.int64)}
    raise RuntimeError("the dataset server is down")

def not_dicts():
    yield [1, 2, 3]
"""


def test_loader_script(tmp_path, octet, encoder):
    script = tmp_path / "loader.py"
    script.write_text(LOADER)
    env = {"OCTET_PYTHON": sys.executable}
    result, report = check(octet, encoder, extra=["--data-loader-script", script], env=env)
    assert result.returncode == 0, result.stderr
    assert report["samples"] == 5 and report["problems"] == [] and report["dryRun"]["error"] is None
    assert report["inputs"][0]["shapeRange"] == [[1, 1], [4, 8]]
    assert "int32 data is converted to the model's int64" in result.stderr
    result, _ = check(octet, encoder, expect_ok=False, extra=["--data-loader-script", f"{script}:broken"], env=env)
    assert result.returncode == 1 and str(script) in result.stderr and "the dataset server is down" in result.stderr
    result, _ = check(octet, encoder, expect_ok=False, extra=["--data-loader-script", f"{script}:not_dicts"], env=env)
    assert result.returncode == 1 and "sample 0 is a list, expected a dict" in result.stderr
    result, _ = check(octet, encoder, expect_ok=False, extra=["--data-loader-script", f"{script}:absent"], env=env)
    assert result.returncode == 1 and "defines no 'absent'" in result.stderr


def test_loader_script_without_python_or_numpy(tmp_path, octet, encoder):
    script = tmp_path / "loader.py"
    script.write_text(LOADER)
    result, _ = check(octet, encoder, expect_ok=False, extra=["--data-loader-script", script],
                      env={"OCTET_PYTHON": str(tmp_path / "no-such-python")})
    assert result.returncode == 1 and "was not found" in result.stderr, result.stderr
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    result, _ = check(octet, encoder, expect_ok=False, extra=["--data-loader-script", script],
                      env={"OCTET_PYTHON": str(bare / "bin" / "python")})
    assert result.returncode == 1 and "numpy is not installed" in result.stderr, result.stderr


def test_every_validation_error_names_input_and_file(tmp_path, octet, encoder):
    feeds = samples(count=3, lengths=(5,))
    stacked = {name: np.concatenate([f[name] for f in feeds]) for name in NAMES}
    bad = dict(stacked)
    bad["input_ids"] = stacked["input_ids"].astype(np.float32)           # dtype that cannot be widened
    bad["attention_mask"] = stacked["attention_mask"][:2]                 # a different sample count
    bad["token_type_ids"] = stacked["token_type_ids"][:, None, None, :]   # rank
    bad["images"] = np.zeros((3, 2), np.float32)                          # unknown input
    path = tmp_path / "bad.npz"
    np.savez(path, **bad)
    result, report = check(octet, encoder, path, expect_ok=False)
    assert result.returncode == 1 and result.stderr.startswith("Error: ")
    problems = report["problems"]
    assert any("different sample counts" in p and "'attention_mask': 2" in p for p in problems)
    assert any(p.startswith(f"{path}:images.npy: 'images' is not an input") for p in problems)
    assert f"input 'input_ids' ({path}:input_ids.npy, sample 0): the data is float32 but the model expects int64" in problems
    assert any(f"input 'token_type_ids' ({path}:token_type_ids.npy, sample 1)" in p and "dimensions" in p for p in problems)
    assert report["dryRun"]["ran"] is False

    folder = tmp_path / "missing"
    folder.mkdir()
    np.savez(folder / "s0.npz", input_ids=feeds[0]["input_ids"], attention_mask=feeds[0]["attention_mask"])
    result, report = check(octet, encoder, folder, expect_ok=False)
    assert f"sample 0 ({folder / 's0.npz'}): input 'token_type_ids' is missing" in report["problems"]

    nan_model = tmp_path / "float.onnx"
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "f",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(nan_model))
    np.savez(tmp_path / "nan.npz", x=np.array([[1, np.nan, 2], [0, 0, -np.inf]], np.float32))
    result, report = check(octet, nan_model, tmp_path / "nan.npz", expect_ok=False)
    assert f"input 'x' ({tmp_path / 'nan.npz'}:x.npy, sample 0): 1 NaN or infinite value; pass --allow-nonfinite if that is intended" in report["problems"]
    _, report = check(octet, nan_model, tmp_path / "nan.npz", extra=["--allow-nonfinite"])
    assert report["inputs"][0]["nonFinite"] == 2
    np.savez(tmp_path / "wide.npz", x=np.zeros((2, 4), np.float32))
    result, report = check(octet, nan_model, tmp_path / "wide.npz", expect_ok=False)
    assert any("at axis 1 (expected 3, got 4)" in p for p in report["problems"])
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 3), np.float32))
    result, report = check(octet, nan_model, tmp_path / "empty.npz", expect_ok=False)
    assert report["problems"] == [f"no samples in {tmp_path / 'empty.npz'}"]


def test_awkward_input_names(tmp_path, octet):
    names = ["input/ids", "images:0", "a.b"]
    nodes = [helper.make_node("Identity", [n], [f"out{i}"]) for i, n in enumerate(names)]
    graph = helper.make_graph(nodes, "names", [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", 2]) for n in names],
                              [helper.make_tensor_value_info(f"out{i}", TensorProto.FLOAT, ["n", 2]) for i in range(3)])
    model = tmp_path / "names.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(model))
    feed = {n: np.full((1, 2), i, np.float32) for i, n in enumerate(names)}
    np.savez(tmp_path / "names.npz", **feed)
    from polygraphy.json import save_json
    save_json([feed], str(tmp_path / "names.json"))
    sets = tmp_path / "sets" / "test_data_set_0"
    sets.mkdir(parents=True)
    for k, n in enumerate(names):
        (sets / f"input_{k}.pb").write_bytes(numpy_helper.from_array(feed[n], n).SerializeToString())
    for data in (tmp_path / "names.npz", tmp_path / "names.json", tmp_path / "sets"):
        _, report = check(octet, model, data)
        assert [i["name"] for i in report["inputs"]] == names and report["problems"] == []


def peak_rss_kib(octet_args):
    """Peak resident memory of one octet run, measured by a child Python process."""
    binary = os.environ.get("OCTET", str(pathlib.Path(__file__).resolve().parent.parent / ".build" / "debug" / "octet"))
    code = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True); "
            "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, binary, *map(str, octet_args)], capture_output=True, text=True, check=True)
    status, rss = out.stdout.split()
    assert status == "0"
    return int(rss)


@pytest.mark.parametrize("layout", ["stacked", "per_sample"])
def test_memory_does_not_grow_with_samples(tmp_path, octet, layout):
    graph = helper.make_graph([helper.make_node("Relu", ["images"], ["y"])], "relu",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["n", 3, 64, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, 64, 64])])
    model = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(model))
    rng = np.random.default_rng(0)
    peaks = {}
    for count in (100, 2000):
        if layout == "stacked":
            path = tmp_path / f"calib{count}.npz"
            np.savez(path, images=rng.standard_normal((count, 3, 64, 64)).astype(np.float32))
        else:
            path = tmp_path / f"calib{count}"
            path.mkdir()
            row = rng.standard_normal((1, 3, 64, 64)).astype(np.float32)
            for i in range(count):
                np.savez(path / f"{i:05d}.npz", images=row)
        peaks[count] = peak_rss_kib(["data", "check", model, "--calibration-data", path])
    data_kib = 2000 * 3 * 64 * 64 * 4 // 1024  # 96,000 KiB of samples
    assert peaks[2000] < peaks[100] + 16 * 1024, peaks
    assert peaks[2000] < data_kib // 2, peaks


def test_run_takes_polygraphy_inputs(tmp_path, octet, encoder):
    """`octet run --load-inputs inputs.json` runs every feed dict, like `polygraphy run`."""
    import onnxruntime as ort
    from polygraphy.json import save_json
    feeds = samples(count=3)
    save_json(feeds, str(tmp_path / "inputs.json"))
    octet("run", encoder, "--load-inputs", tmp_path / "inputs.json", "--save-outputs", tmp_path / "out.npz")
    session = ort.InferenceSession(str(encoder), providers=["CPUExecutionProvider"])
    with np.load(tmp_path / "out.npz") as saved:
        for index, feed in enumerate(feeds):
            for output, expected in zip(session.get_outputs(), session.run(None, feed)):
                np.testing.assert_allclose(saved[f"run{index}/{output.name}"], expected, rtol=1e-4, atol=1e-5)
