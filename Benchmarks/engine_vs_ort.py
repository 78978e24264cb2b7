"""Octet's CPU engine against ONNX Runtime on the same machine, in one run.

    python Benchmarks/engine_vs_ort.py [--octet PATH] [--threads 1 2] [--iterations N] [--repeat R] [--only SUBSTRING] [--no-gemm] [--check]

For each model of Benchmarks/bench_models.py (realistic sizes) and each thread count, runs
ONNX Runtime (CPU provider, intra_op_num_threads = threads, graph optimizations on) and
`octet run --threads` one after the other, each in its own process with one warm-up run and
N timed runs (with --repeat R, R such pairs interleaved, each engine's lowest median kept), and
prints the median latency of each, the Octet / ONNX Runtime ratio and each
process's peak RSS (the ONNX Runtime figure includes the Python interpreter and NumPy, about
40 MB). Then a GEMM table: Octet's MatMul (a one-node model) against NumPy's BLAS, in GFLOP/s,
on 1024³ and on GEMM shapes of the models. Use a release build (`swift build -c release`);
keep the machine otherwise idle.
"""
import argparse
import os
import pathlib
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Interop"))
sys.path.insert(0, str(ROOT / "Benchmarks"))
import bench_models  # noqa: E402

ORT_WORKER = r"""
import sys, time, numpy as np, onnxruntime as ort
model, data, threads, iterations = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
options = ort.SessionOptions()
options.intra_op_num_threads = threads
options.inter_op_num_threads = 1
session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
feeds = dict(np.load(data))
session.run(None, feeds)
times = []
for _ in range(iterations):
    start = time.perf_counter()
    session.run(None, feeds)
    times.append((time.perf_counter() - start) * 1000)
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]
print(f"median {np.median(times):.3f} ms, peak RSS {int(hwm) / 1024:.0f} MiB")
"""

NUMPY_WORKER = r"""
import sys, time, numpy as np
m, n, k, iterations = map(int, sys.argv[1:5])
rng = np.random.default_rng(0)
a = rng.standard_normal((m, k)).astype(np.float32)
b = rng.standard_normal((k, n)).astype(np.float32)
a @ b
times = []
for _ in range(iterations):
    start = time.perf_counter()
    a @ b
    times.append(time.perf_counter() - start)
print(f"median {np.median(times) * 1000:.4f}")
"""


def run(command, env=None):
    """Runs `command`; returns (the median ms it printed, the peak RSS in MiB it printed or None).
    Each process reports its own VmHWM: a child's `ru_maxrss` would count the pages of this
    (large) Python parent at the fork."""
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    out = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} failed:\n{out}")
    rss = re.search(r"peak RSS ([0-9.]+) MiB", out)
    return float(re.search(r"median ([0-9.]+)", out).group(1)), float(rss.group(1)) if rss else None


def check(octet, model_path, data_path, feeds, folder):
    """Octet's outputs against ONNX Runtime's (graph as written), ≤ 1e-4 of the largest |value|,
    or, where ONNX Runtime disagrees with itself more (its optimized graph against the graph as
    written: a Sigmoid after logits in the hundreds turns float32 rounding into ~1e-4), within
    twice that disagreement."""
    import onnxruntime as ort
    results = []
    for level in [ort.GraphOptimizationLevel.ORT_DISABLE_ALL, ort.GraphOptimizationLevel.ORT_ENABLE_ALL]:
        options = ort.SessionOptions()
        options.graph_optimization_level = level
        session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        results.append(dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds))))
    expected, optimized = results
    subprocess.run([octet, "run", str(model_path), "--load-inputs", str(data_path), "--save-outputs", str(folder / "check.npz")],
                   check=True, capture_output=True)
    with np.load(folder / "check.npz") as got:
        for name, want in expected.items():
            scale = max(float(np.abs(want).max()), 1e-12)
            error = float(np.abs(got[name] - want).max()) / scale
            own = float(np.abs(optimized[name] - want).max()) / scale
            if error > max(1e-4, 2 * own):
                raise SystemExit(f"{model_path.name} {name}: Octet differs from ONNX Runtime by {error:.2e} of the largest value "
                                 f"(ONNX Runtime's optimized graph by {own:.2e})")
            if error > 1e-4:
                print(f"  {model_path.name} {name}: {error:.2e} of the largest value (ONNX Runtime's optimized graph: {own:.2e})")


def matmul_model(m, n, k):
    rng = np.random.default_rng(1)
    weight = numpy_helper.from_array((rng.standard_normal((k, n)) * 0.05).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "w"], ["c"], name="gemm")], "gemm",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k])],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [m, n])], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


# (label, M, N, K): square, then GEMMs the models run (conv as W[M=filters, K] × columns[K, N=positions]).
GEMM_SHAPES = [("square 1024", 1024, 1024, 1024),
               ("resnet50 3x3 conv2", 64, 3136, 576), ("resnet50 1x1 conv4", 1024, 196, 256),
               ("resnet50 3x3 conv5", 512, 49, 4608), ("bert 8x128 ffn up", 1024, 1536, 384),
               ("bert 8x128 ffn down", 1024, 384, 1536), ("bert 1x128 qkv", 128, 384, 384)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--octet", default=str(ROOT / ".build" / "release" / "octet"))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--only", default="", help="run only the models whose name contains this")
    parser.add_argument("--no-gemm", action="store_true")
    parser.add_argument("--check", action="store_true", help="first require Octet's outputs within 1e-4 (relative to the largest) of ONNX Runtime's")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each engine this many times (interleaved) and keep each one's lowest median: on a shared "
                             "machine, the run least disturbed by other load")
    args = parser.parse_args()
    folder = pathlib.Path(tempfile.mkdtemp())
    print(f"{'model':26} {'thr':>3} {'ORT ms':>9} {'Octet ms':>9} {'ratio':>6} {'ORT MiB':>8} {'Octet MiB':>9}", flush=True)
    saved = {}
    for name, (model, feeds) in bench_models.cases().items():
        if args.only not in name:
            continue
        slug = re.sub(r"\W+", "_", name)
        key = id(model)
        if key not in saved:
            saved[key] = folder / f"{slug}.onnx"
            onnx.save(model, str(saved[key]))
        np.savez(folder / f"{slug}.npz", **feeds)
        if args.check:
            check(args.octet, saved[key], folder / f"{slug}.npz", feeds, folder)
        for threads in args.threads:
            ort, octet = [], []
            for _ in range(max(args.repeat, 1)):
                ort.append(run([sys.executable, "-c", ORT_WORKER, str(saved[key]), str(folder / f"{slug}.npz"),
                                str(threads), str(args.iterations)]))
                octet.append(run([args.octet, "run", str(saved[key]), "--load-inputs", str(folder / f"{slug}.npz"),
                                  "--warm-up", "1", "--iterations", str(args.iterations), "--threads", str(threads)]))
            (ort_ms, ort_rss), (octet_ms, octet_rss) = min(ort), min(octet)
            print(f"{name:26} {threads:3} {ort_ms:9.2f} {octet_ms:9.2f} {octet_ms / ort_ms:6.2f} {ort_rss:8.0f} {octet_rss:9.0f}", flush=True)
    if args.no_gemm:
        return
    print(f"\n{'GEMM (M×N×K)':34} {'thr':>3} {'NumPy GF/s':>10} {'Octet GF/s':>10} {'Octet/NumPy':>11}")
    for label, m, n, k in GEMM_SHAPES:
        path = folder / f"gemm_{m}_{n}_{k}.onnx"
        onnx.save(matmul_model(m, n, k), str(path))
        np.savez(folder / "gemm.npz", a=np.random.default_rng(2).standard_normal((m, k)).astype(np.float32))
        flops = 2.0 * m * n * k
        for threads in args.threads:
            env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
            numpy_ms, _ = run([sys.executable, "-c", NUMPY_WORKER, str(m), str(n), str(k), str(max(args.iterations, 10))], env=env)
            octet_ms, _ = run([args.octet, "run", str(path), "--load-inputs", str(folder / "gemm.npz"),
                                        "--warm-up", "1", "--iterations", str(max(args.iterations, 10)), "--threads", str(threads)])
            numpy_gf, octet_gf = flops / numpy_ms / 1e6, flops / octet_ms / 1e6
            print(f"{label + f' ({m}×{n}×{k})':34} {threads:3} {numpy_gf:10.1f} {octet_gf:10.1f} {octet_gf / numpy_gf:11.2f}", flush=True)


if __name__ == "__main__":
    main()
