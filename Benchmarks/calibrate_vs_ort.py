"""Calibration with Octet against ONNX Runtime's quantize_static, side by side in one run.

    python Benchmarks/calibrate_vs_ort.py [--octet PATH] [--samples 64 256] [--ort-methods MinMax Entropy Percentile]

For each builder model at a realistic size (a YOLO-style detector at 3×640×640, a BERT-style
encoder with three int64 inputs at 64 tokens) and each sample count, it writes the samples as
a folder of per-sample .npz files (both tools stream them from disk), then measures in separate
processes: `octet calibrate` (entropy), `octet run` of one sample N times (the same process
work without reading the data or observing: what the calibration is compared with), and ONNX
Runtime's quantize_static with each calibration method. It prints wall time and peak resident memory (RSS) of each, and the ratios
the calibration issue targets. Use a release build of octet (`swift build -c release`).
ONNX Runtime's children run under an address-space limit (--ort-memory-limit-gib) so a run
that would exhaust the machine fails and is reported as such.
"""
import argparse
import os
import pathlib
import re
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Interop"))
import models  # noqa: E402

ORT_SCRIPT = r"""
import pathlib, sys, numpy as np
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, quantize_static

class Reader(CalibrationDataReader):
    def __init__(self, folder):
        self.files = sorted(pathlib.Path(folder).glob("*.npz"))
    def get_next(self):
        if not self.files:
            return None
        with np.load(self.files.pop(0)) as archive:
            return {key: archive[key] for key in archive.files}

model, folder, output, method = sys.argv[1:5]
quantize_static(model, output, Reader(folder), quant_format=QuantFormat.QDQ, per_channel=True,
                calibrate_method=getattr(CalibrationMethod, method))
"""


def cases(count):
    rng = np.random.default_rng(0)

    def images():
        for _ in range(count):
            yield {"images": rng.standard_normal((1, 3, 640, 640)).astype(np.float32)}

    def tokens():
        for i in range(count):
            feeds = models.encoder_feeds(1, 64, vocab=1000, seed=i)
            yield feeds

    return {
        "yolo_head 3x640x640": (models.yolo_head(17), images),
        "encoder h128 x64 tokens": (models.mini_encoder(17, hidden=128, vocab=1000), tokens),
    }


def measure(command, limit_gib=None):
    """Runs `command` in a child and returns (seconds, peak RSS bytes, ok, stderr)."""
    wrapper = [sys.executable, "-c", (
        "import resource, subprocess, sys, time\n"
        f"limit = {int(limit_gib * 2**30) if limit_gib else 0}\n"
        "def cap():\n"
        "    if limit: resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
        "start = time.perf_counter()\n"
        "result = subprocess.run(sys.argv[1:], preexec_fn=cap, capture_output=True, text=True)\n"
        "elapsed = time.perf_counter() - start\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024\n"
        "print(f'{elapsed} {peak} {result.returncode}')\n"
        "sys.stderr.write(result.stderr)\n"
    )] + [str(c) for c in command]
    result = subprocess.run(wrapper, capture_output=True, text=True)
    elapsed, peak, code = result.stdout.split()
    return float(elapsed), int(peak), code == "0", result.stderr


def mib(count):
    return f"{count / 2**20:8.0f}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--octet", default=str(ROOT / ".build" / "release" / "octet"))
    parser.add_argument("--samples", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--ort-methods", nargs="*", default=["MinMax", "Entropy", "Percentile"])
    parser.add_argument("--ort-memory-limit-gib", type=float, default=16)
    parser.add_argument("--models", nargs="*", help="only these models (by name prefix)")
    args = parser.parse_args()
    root = pathlib.Path(tempfile.mkdtemp())
    print(f"{'model':26} {'N':>4} {'tool':24} {'seconds':>8} {'peak MiB':>8}  note")
    for count in args.samples:
        for name, (model, samples) in cases(count).items():
            if args.models and not any(name.startswith(m) for m in args.models):
                continue
            slug = re.sub(r"\W+", "_", name)
            folder = root / f"{slug}_{count}"
            data = folder / "data"
            data.mkdir(parents=True)
            path = folder / "model.onnx"
            onnx.save(model, str(path))
            for index, feeds in enumerate(samples()):
                np.savez(data / f"{index:05d}.npz", **feeds)
                if index == 0:
                    np.savez(folder / "one.npz", **feeds)
            # Both tools read the samples from the page cache, not from a disk still writing them.
            os.sync()
            for file in data.iterdir():
                file.read_bytes()
            rows = []
            seconds, peak, ok, err = measure([args.octet, "calibrate", path, "--calibration-data", data,
                                              "--calibration-cache", folder / "octet.calib"])
            rows.append(("octet calibrate entropy", seconds, peak, "" if ok else "FAILED " + err.strip()[-200:]))
            octet_seconds, octet_peak = seconds, peak
            run_seconds, run_peak, ok, err = measure([args.octet, "run", path, "--load-inputs", folder / "one.npz", "--iterations", count])
            if not ok:
                run_seconds = float("nan")
            rows.append((f"octet run x{count}", run_seconds, run_peak, f"calibrate / run = {octet_seconds / run_seconds:.2f}"))
            for method in args.ort_methods:
                seconds, peak, ok, err = measure([sys.executable, "-c", ORT_SCRIPT, path, data, folder / f"ort_{method}.onnx", method],
                                                 limit_gib=args.ort_memory_limit_gib)
                note = f"Octet peak / this = {octet_peak / peak:.2f}" if ok else "FAILED: " + (err.strip().splitlines() or ["?"])[-1][:120]
                rows.append((f"ORT quantize_static {method}", seconds, peak, note))
            for tool, seconds, peak, note in rows:
                print(f"{name:26} {count:4} {tool:24} {seconds:8.2f} {mib(peak) if peak else '       -'}  {note}", flush=True)
            for file in data.iterdir():
                file.unlink()


if __name__ == "__main__":
    main()
