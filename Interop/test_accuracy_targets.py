"""The accuracy targets on the trained examples, scored by ONNX Runtime (Benchmarks/accuracy_targets.py):
a CNN on real handwritten digits keeps top-1 within 0.5 points of FP32, the trained three-input
encoders keep every output's mean cosine >= 0.99 and task accuracy within 1 point, with at least
80 % of the candidate multiply-accumulates in INT8 and no hand-picked exclusions. Octet's own
report of the task accuracy agrees with ONNX Runtime's.

They use the release build .ci/run provides (OCTET_RELEASE); a debug build takes minutes even on
the CNN, so without one only the CNN runs."""
import json
import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Benchmarks"))
import accuracy_targets  # noqa: E402


@pytest.mark.parametrize("name,folder,target,drop", accuracy_targets.EXAMPLES, ids=[e[0] for e in accuracy_targets.EXAMPLES])
def test_accuracy_target(tmp_path, name, folder, target, drop):
    if not (ROOT / "Examples" / folder / "model.onnx").exists():
        pytest.skip(f"Examples/{folder} is not in this checkout")
    release = os.environ.get("OCTET_RELEASE")
    if name != "digits-cnn" and not release:
        pytest.skip("the encoders run with a release build (OCTET_RELEASE), as .ci/run gives")
    octet = release or os.environ.get("OCTET", str(ROOT / ".build" / "debug" / "octet"))
    rows = accuracy_targets.measure(octet, name, folder, target, drop, tmp_path, stages=("after",))
    after = rows[-1]
    assert after["met"], after
    assert after["macs"] >= accuracy_targets.MIN_MAC_FRACTION
    report = (tmp_path / name / "after" / "report.json").read_text()
    task = json.loads(report)["evaluation"]["taskAccuracy"]
    rows_scored = task["rows"]
    assert abs(task["fp32"] * 100 - after["fp32"]) <= 100 / rows_scored + 1e-9, "Octet's FP32 accuracy is ONNX Runtime's (one row of slack)"
    assert abs(task["int8"] * 100 - after["int8"]) <= 100 / rows_scored + 1e-9, "Octet's INT8 accuracy is ONNX Runtime's (one row of slack)"
