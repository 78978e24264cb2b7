"""Models mutated the way broken exports are (odd attribute values, wrong-sized or corrupted
weights, rewired inputs) must make `octet run` fail with an `Error:` line and exit 1, or run;
never crash. The same holds for byte-mutated stats files and TensorRT caches given to
`octet calibrate`. Fixed seeds keep the cases the same from run to run."""
import os
import pathlib
import random
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import models

MODELS = models.engine_models()


def mutate(model, rng):
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for _ in range(rng.randint(1, 3)):
        node = rng.choice(list(m.graph.node))
        roll = rng.random()
        if node.attribute and roll < 0.4:
            a = rng.choice(list(node.attribute))
            if a.type == onnx.AttributeProto.INT:
                a.i = rng.choice([-5, -1, 0, 1, 2, 3, 7, 100, 2**40])
            elif a.type == onnx.AttributeProto.INTS and a.ints:
                a.ints[rng.randrange(len(a.ints))] = rng.choice([-3, -1, 0, 1, 5, 1000])
            elif a.type == onnx.AttributeProto.FLOAT:
                a.f = rng.choice([0.0, -1.0, float("nan"), 1e30])
        elif roll < 0.7 and m.graph.initializer:
            t = rng.choice(list(m.graph.initializer))
            array = numpy_helper.to_array(t)
            if array.dtype.kind == "i" and array.size:
                flat = array.flatten()
                flat[rng.randrange(flat.size)] = rng.choice([-7, -1, 0, 2, 99, 10**9])
                array = flat.reshape(array.shape)
            elif array.ndim:
                array = array.reshape(-1)[: max(0, array.size - rng.randint(0, 3))]
            t.CopyFrom(numpy_helper.from_array(array, t.name))
        elif node.input:
            node.input[rng.randrange(len(node.input))] = rng.choice([x for n in m.graph.node for x in n.output] + [""])
    return m


@pytest.mark.parametrize("seed", range(4))
def test_mutated_models_never_crash(tmp_path, octet, seed):
    rng = random.Random(seed)
    names = sorted(MODELS)
    for trial in range(20):
        name = rng.choice(names)
        model, feeds = MODELS[name]
        path = tmp_path / f"m{trial}.onnx"
        onnx.save(mutate(model, rng), str(path))
        np.savez(tmp_path / "in.npz", **feeds[0])
        result = octet("run", path, "--load-inputs", tmp_path / "in.npz", check=False)
        assert result.returncode in (0, 1), f"{name} trial {trial}: exit {result.returncode}\n{result.stderr[-2000:]}"
        if result.returncode == 1:
            assert result.stderr.startswith("Error: ") and "Fatal error" not in result.stderr


@pytest.mark.parametrize("name", sorted(MODELS))
def test_odd_input_shapes_never_crash(tmp_path, octet, name):
    """Empty, tiny and odd dimensions and non-finite values in the inputs: an error or a
    result, never a crash."""
    model, feeds = MODELS[name]
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    rng = random.Random(name)
    for trial in range(3):
        fed = {}
        for key, value in feeds[0].items():
            shape = [rng.choice([0, 1, 2, 3, 5, 17]) if rng.random() < 0.5 else dim for dim in value.shape]
            generator = np.random.default_rng(trial)
            if value.dtype.kind == "i":
                fed[key] = generator.integers(-3, 60, shape).astype(value.dtype)
            elif value.dtype.kind == "b":
                fed[key] = value
            else:
                array = generator.standard_normal(shape).astype(value.dtype)
                if array.size:
                    array.flat[0] = rng.choice([np.nan, np.inf, 1e38])
                fed[key] = array
        np.savez(tmp_path / "in.npz", **fed)
        result = octet("run", path, "--load-inputs", tmp_path / "in.npz", check=False)
        assert result.returncode in (0, 1), f"{name} {({k: v.shape for k, v in fed.items()})}: exit {result.returncode}\n{result.stderr[-2000:]}"


def mutations(data, rng, count):
    for _ in range(count):
        mutated = bytearray(data)
        roll = rng.random()
        if roll < 0.3:
            del mutated[rng.randrange(len(mutated)):]
        elif roll < 0.7:
            for _ in range(rng.randint(1, 8)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        else:
            start = rng.randrange(len(mutated))
            mutated[start:start] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
        yield bytes(mutated)


def test_corrupted_stats_files_and_caches_never_crash(tmp_path, octet):
    path = tmp_path / "encoder.onnx"
    onnx.save(models.mini_encoder(17), str(path))
    np.savez(tmp_path / "calib.npz", **models.encoder_feeds(4, 9))
    octet("calibrate", path, "--calibration-data", tmp_path / "calib.npz", "--save-stats", tmp_path / "stats.json",
          "--calibration-cache", tmp_path / "good.calib")
    rng = random.Random(7)
    stats = (tmp_path / "stats.json").read_bytes()
    cache = (tmp_path / "good.calib").read_bytes()
    (tmp_path / "good.calib.json").unlink()
    trials = [("--load-stats", "s.json", m) for m in mutations(stats, rng, 40)]
    trials += [("--calibration-cache", "c.calib", m) for m in mutations(cache, rng, 40)]
    for flag, name, data in trials:
        (tmp_path / name).write_bytes(data)
        result = octet("calibrate", path, flag, tmp_path / name, "--ranges-json", tmp_path / "r.json", check=False)
        assert result.returncode in (0, 1), f"{flag}: exit {result.returncode}\n{result.stderr[-2000:]}"
        if result.returncode == 1:
            assert result.stderr.startswith("Error: ") and result.stderr.count("Error:") == 1, result.stderr[-2000:]
            assert "Fatal error" not in result.stderr


def test_long_chain_plans_in_linear_time(tmp_path, octet):
    """A 50,000-node chain runs (planning was quadratic: minutes for 200,000 nodes). The bound
    is a hang guard (about 30× the debug build's time here), not a speed target."""
    n = 50_000
    nodes = [helper.make_node("Relu", [f"v{i}"], [f"v{i + 1}"], name=f"r{i}") for i in range(n)]
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("v0", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info(f"v{n}", TensorProto.FLOAT, [4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "chain.onnx"))
    np.savez(tmp_path / "in.npz", v0=np.ones(4, np.float32))
    binary = os.environ.get("OCTET", str(pathlib.Path(__file__).resolve().parent.parent / ".build" / "debug" / "octet"))
    result = subprocess.run([binary, "run", str(tmp_path / "chain.onnx"), "--load-inputs", str(tmp_path / "in.npz")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"v{n}: float32 [4] min 1 max 1 mean 1" in result.stdout
