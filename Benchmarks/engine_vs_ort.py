"""Octet's CPU engine against ONNX Runtime on the same machine, in one run.

    python Benchmarks/engine_vs_ort.py [--octet PATH] [--threads N] [--iterations N]

Builds the test architectures at benchmark sizes (Interop/models.py), times steady-state runs
of ONNX Runtime (in process) and `octet run --warm-up --iterations` (in its own process, load
excluded), and prints a table of mean milliseconds and the Octet / ORT ratio. Both use the
same thread count. Use a release build of octet (`swift build -c release`).
"""
import argparse
import pathlib
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Interop"))
import models  # noqa: E402


def cases():
    rng = np.random.default_rng(0)
    return {
        "resnet 8x3x224x224": (models.resnet(17), {"images": rng.standard_normal((8, 3, 224, 224)).astype(np.float32)}),
        "mobilenet_v3 8x3x224x224": (models.mobilenet_v3(17), {"images": rng.standard_normal((8, 3, 224, 224)).astype(np.float32)}),
        "yolo_head 4x3x320x320": (models.yolo_head(17), {"images": rng.standard_normal((4, 3, 320, 320)).astype(np.float32)}),
        "unet 4x3x256x256": (models.unet(17), {"images": rng.standard_normal((4, 3, 256, 256)).astype(np.float32)}),
        "encoder h128 8x64": (models.mini_encoder(17, hidden=128, vocab=1000), models.encoder_feeds(8, 64, vocab=1000)),
        "lstm 200x8x4": (models.lstm_model(), {"audio": rng.standard_normal((200, 8, 4)).astype(np.float32)}),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--octet", default=str(ROOT / ".build" / "release" / "octet"))
    parser.add_argument("--threads", type=int, default=0, help="0: all cores")
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args()
    folder = pathlib.Path(tempfile.mkdtemp())
    print(f"{'model':28} {'ORT ms':>9} {'Octet ms':>9} {'ratio':>7}")
    for name, (model, feeds) in cases().items():
        slug = re.sub(r"\W+", "_", name)
        onnx.save(model, str(folder / f"{slug}.onnx"))
        np.savez(folder / f"{slug}.npz", **feeds)
        options = ort.SessionOptions()
        if args.threads:
            options.intra_op_num_threads = args.threads
        session = ort.InferenceSession(str(folder / f"{slug}.onnx"), options, providers=["CPUExecutionProvider"])
        session.run(None, feeds)
        start = time.perf_counter()
        for _ in range(args.iterations):
            session.run(None, feeds)
        ort_ms = (time.perf_counter() - start) * 1000 / args.iterations
        command = [args.octet, "run", str(folder / f"{slug}.onnx"), "--load-inputs", str(folder / f"{slug}.npz"),
                   "--warm-up", "1", "--iterations", str(args.iterations)]
        if args.threads:
            command += ["--threads", str(args.threads)]
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        octet_ms = float(re.search(r"mean ([0-9.]+) ms", result.stderr).group(1))
        print(f"{name:28} {ort_ms:9.2f} {octet_ms:9.2f} {octet_ms / ort_ms:7.1f}")


if __name__ == "__main__":
    main()
