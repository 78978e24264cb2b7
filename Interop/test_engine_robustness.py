"""Models mutated the way broken exports are (odd attribute values, wrong-sized or corrupted
weights, rewired inputs) must make `octet run` fail with an `Error:` line and exit 1, or run;
never crash. The same holds for byte-mutated stats files and TensorRT caches given to
`octet calibrate`. Fixed seeds keep the cases the same from run to run."""
import random
import subprocess

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

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
