"""The engine's breadth: its list of the standard domain against the pinned onnx wheel, the
operator listing users see, and whole models built as exporters write them (ViT padding with
Mod, a RoiAlign detector head, a spatial transformer, an STFT/mel audio front-end, an opset-23
decoder block, a Scan RNN) against ONNX Runtime (max |octet − ort| / max |ort| ≤ 1e-4)."""
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import defs

import breadth_models

MODELS = breadth_models.breadth_models()


def test_listing_covers_the_wheels_standard_domain(octet):
    listing = json.loads(octet("inspect", "--list-operators", "--json").stdout)
    coverage = listing["standardDomain"]
    wheel = {schema.name for schema in defs.get_all_schemas_with_history() if schema.domain == ""}
    assert coverage["onnxVersion"] == onnx.__version__
    assert coverage["total"] == len(wheel)
    engine = {entry["opType"] for entry in listing["operators"] if entry["domain"] == ""}
    assert engine <= wheel, f"registered names the wheel does not know: {sorted(engine - wheel)}"
    missing = {entry["opType"] for entry in coverage["missing"]}
    assert missing == wheel - engine
    assert coverage["supported"] == len(wheel & engine)
    assert missing <= {"ImageDecoder"}, f"operators without a kernel: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_matches_onnx_runtime(tmp_path, octet, name):
    model, feed_sets = MODELS[name]
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    for index, feeds in enumerate(feed_sets):
        expected = dict(zip(names, session.run(None, feeds)))
        inputs = tmp_path / f"inputs{index}.npz"
        outputs = tmp_path / f"outputs{index}.npz"
        np.savez(inputs, **feeds)
        octet("run", path, "--load-inputs", inputs, "--save-outputs", outputs)
        with np.load(outputs) as got:
            for output in names:
                want, have = expected[output], got[output]
                assert have.shape == want.shape, (output, have.shape, want.shape)
                scale = max(float(np.max(np.abs(want))), 1e-30)
                error = float(np.max(np.abs(have.astype(np.float64) - want))) / scale
                assert error <= 1e-4, f"{name} {output} at feed set {index}: relative error {error:.3g}"
