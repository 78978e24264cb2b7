"""The accuracy targets of INT8 conversion, measured on trained models with real data.

    python Benchmarks/accuracy_targets.py [--octet PATH] [--only NAME] [--json OUT]

For each trained example (committed under Examples/, made by scripts/make-demo and
scripts/make-trained-examples) it runs `octet convert --int8` twice — plain entropy
calibration with TensorRT's placement ("before"), then with `--target-cosine` ("after"; the
search returns nodes to FP32 or changes range methods only while the target is not met), and
once more with a stricter cosine (`strict`, past what plain entropy gives, to show the search
at work; reported, not a target) — and
scores the FP32 and the INT8 models with ONNX Runtime, not Octet's engine: task accuracy on
the held-out labelled samples, and per output the mean cosine similarity to FP32 (NumPy).
It prints the before/after table with the share of candidate multiply-accumulates left in
INT8 (Octet's report) and checks the targets:

- encoders: every output's mean cosine >= 0.99 and task accuracy within 1 point of FP32;
- CNN: top-1 within 0.5 points of FP32;
- both: at least 80 % of the candidate MACs in INT8.

Exit status 1 when a target is missed. Use a release build (`swift build -c release`).
"""
import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort

ROOT = pathlib.Path(__file__).resolve().parent.parent

# name, example folder, target cosine, largest task-accuracy drop in points.
EXAMPLES = [
    ("digits-cnn", "digits-cnn", 0.99, 0.5),
    ("stdlib-topics", "stdlib-topics", 0.99, 1.0),
    ("stdlib-topics-large", "stdlib-topics-large", 0.99, 1.0),
]
# A stricter cosine per example, past what plain entropy gives, to show the search at work
# (reported, not a target).
STRICT = {"stdlib-topics": 0.9998, "stdlib-topics-large": 0.9995}
MIN_MAC_FRACTION = 0.8


def ort_outputs(model, feeds):
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


def mean_cosine(a, b):
    a = a.reshape(a.shape[0], -1).astype(np.float64)
    b = b.reshape(b.shape[0], -1).astype(np.float64)
    denominator = np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-300)
    return float(np.mean(np.sum(a * b, axis=1) / denominator))


def score(model, feeds, labels, reference=None):
    """Task accuracy of the first output against labels; mean cosine of each output to `reference`."""
    outputs = ort_outputs(model, feeds)
    logits = next(iter(outputs.values()))
    accuracy = float((logits.argmax(1) == labels).mean()) * 100
    cosines = {k: mean_cosine(reference[k], v) for k, v in outputs.items()} if reference else {}
    return outputs, accuracy, cosines


def convert(octet, example, out, extra):
    start = time.time()
    command = [octet, "convert", example / "model.onnx", "--int8", "--calibration-data", example / "calib.npz",
               "--eval-data", example / "eval.npz", "--eval-labels", example / "eval-labels.npy",
               "-o", out / "model.int8.onnx", "--report", out / "report.json", "--report", out / "report.html", *extra]
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"octet convert failed on {example}:\n{result.stderr}")
    return json.loads((out / "report.json").read_text()), time.time() - start


def measure(octet, name, folder, target, max_drop, work, stages=("before", "after", "strict")):
    """One row per stage: `before` (plain), `after` (--target-cosine target), `strict` (STRICT's cosine)."""
    example = ROOT / "Examples" / folder
    feeds = dict(np.load(example / "eval.npz"))
    labels = np.load(example / "eval-labels.npy")
    fp32, fp32_accuracy, _ = score(example / "model.onnx", feeds, labels)
    rows = []
    targets = {"before": target, "after": target, "strict": STRICT.get(name, target)}
    for stage in (s for s in stages if s != "strict" or name in STRICT):
        extra = [] if stage == "before" else ["--target-cosine", str(targets[stage]), "--max-accuracy-drop", str(max_drop)]
        target = targets[stage]
        out = work / name / stage
        out.mkdir(parents=True)
        report, seconds = convert(octet, example, out, extra)
        _, accuracy, cosines = score(out / "model.int8.onnx", feeds, labels, fp32)
        macs = report["evaluation"]["macs"]["int8Fraction"]
        steps = report["fallback"]
        ok = min(cosines.values()) >= target and fp32_accuracy - accuracy <= max_drop and macs >= MIN_MAC_FRACTION
        rows.append(dict(model=name, stage=stage, fp32=fp32_accuracy, int8=accuracy, drop=fp32_accuracy - accuracy, cosines=cosines,
                         macs=macs, steps=[f"{s['node']}: {'FP32' if s['action'] == 'fp32' else s['method']}" for s in steps],
                         seconds=seconds, target=target, maxDrop=max_drop, met=ok))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--octet", default=str(ROOT / ".build" / "release" / "octet"))
    parser.add_argument("--only", help="run only this example")
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, example, target, drop in EXAMPLES:
            if args.only and args.only != name:
                continue
            if not (ROOT / "Examples" / example / "model.onnx").exists():
                print(f"{name}: Examples/{example} is missing (scripts/make-trained-examples builds it)")
                continue
            rows += measure(args.octet, name, example, target, drop, pathlib.Path(folder))
    print(f"{'model':<20} {'stage':<7} {'FP32 %':>7} {'INT8 %':>7} {'drop':>6} {'min cosine (output)':<36} {'INT8 MACs':>9} {'time':>6}  target")
    for r in rows:
        worst = min(r["cosines"], key=r["cosines"].get)
        print(f"{r['model']:<20} {r['stage']:<7} {r['fp32']:7.2f} {r['int8']:7.2f} {r['drop']:+6.2f} "
              f"{r['cosines'][worst]:.5f} ({worst}){'':<{max(0, 26 - len(worst))}} {r['macs'] * 100:8.1f}% {r['seconds']:5.0f}s  "
              f"{'met' if r['met'] else 'MISSED'} (cosine >= {r['target']}, drop <= {r['maxDrop']}, MACs >= {MIN_MAC_FRACTION:.0%})")
        for step in r["steps"]:
            print(f"{'':<29}step: {step}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    missed = [r for r in rows if r["stage"] == "after" and not r["met"]]
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
