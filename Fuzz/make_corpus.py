"""Writes the fuzzers' seed corpora into Fuzz/Corpus/<target>/: small valid inputs of each
format, so mutations start from files that reach deep into each reader. Run with the interop
venv (numpy, onnx, polygraphy): `.venv-interop/bin/python Fuzz/make_corpus.py`."""
import io
import pathlib
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = pathlib.Path(__file__).resolve().parent / "Corpus"
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "Interop"))
import hostile  # noqa: E402


def write(target, name, data):
    folder = ROOT / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def model(nodes, inputs, outputs, inits=(), opset=13):
    graph = helper.make_graph(nodes, "seed", inputs, outputs, initializer=list(inits))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m.SerializeToString()


def vi(name, dtype=TensorProto.FLOAT, shape=(2, 4)):
    return helper.make_tensor_value_info(name, dtype, list(shape))


def models():
    w = numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "w")
    yield "relu.onnx", model([helper.make_node("Relu", ["x"], ["y"])], [vi("x")], [vi("y")])
    yield "conv.onnx", model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
                             [vi("x", shape=(1, 1, 4, 4))], [vi("y", shape=(1, 1, 4, 4))], [w])
    yield "pad-slice.onnx", model([helper.make_node("Pad", ["x", "p"], ["t"]),
                                   helper.make_node("Slice", ["t", "s", "e"], ["y"])],
                                  [vi("x")], [vi("y")], [numpy_helper.from_array(np.array([0, 1, 0, 1], np.int64), "p"),
                                                         numpy_helper.from_array(np.array([0], np.int64), "s"),
                                                         numpy_helper.from_array(np.array([1], np.int64), "e")])
    yield "reshape-concat.onnx", model([helper.make_node("Reshape", ["x", "s"], ["r"]),
                                        helper.make_node("Concat", ["r", "r"], ["y"], axis=0)],
                                       [vi("x")], [vi("y", shape=(16,))], [numpy_helper.from_array(np.array([8], np.int64), "s")])
    yield "matmul-softmax.onnx", model([helper.make_node("MatMul", ["x", "m"], ["h"]), helper.make_node("Softmax", ["h"], ["y"])],
                                       [vi("x")], [vi("y", shape=(2, 3))], [numpy_helper.from_array(np.ones((4, 3), np.float32), "m")])
    yield "nested-if.onnx", hostile.nested_if_model(3)
    yield "range-gather.onnx", model([helper.make_node("Range", ["a", "b", "c"], ["r"]), helper.make_node("Gather", ["x", "r"], ["y"], axis=1)],
                                     [vi("x")], [vi("y")], [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in zip("abc", (0, 4, 1))])


def new_operator_models():
    """Seeds for the operators added for the whole standard set (exec target only)."""
    f = lambda name, array: numpy_helper.from_array(np.asarray(array), name)
    yield "mod-bitshift.onnx", model([helper.make_node("Mod", ["x", "m"], ["r"], fmod=1), helper.make_node("Hardmax", ["r"], ["y"])],
                                     [vi("x")], [vi("y")], [f("m", np.full((2, 4), 3, np.float32))])
    yield "gridsample.onnx", model([helper.make_node("GridSample", ["x", "g"], ["y"], mode="cubic", padding_mode="reflection")],
                                   [vi("x", shape=(1, 1, 4, 4))], [vi("y", shape=(1, 1, 2, 2))],
                                   [f("g", np.linspace(-1.5, 1.5, 8, dtype=np.float32).reshape(1, 2, 2, 2))], opset=20)
    yield "roialign.onnx", model([helper.make_node("RoiAlign", ["x", "r", "b"], ["y"], output_height=2, output_width=2)],
                                 [vi("x", shape=(1, 1, 4, 4))], [vi("y", shape=(1, 1, 2, 2))],
                                 [f("r", np.array([[0, 0, 3, 3]], np.float32)), f("b", np.zeros(1, np.int64))], opset=16)
    yield "attention.onnx", model([helper.make_node("Attention", ["q", "k", "v"], ["y"], is_causal=1, q_num_heads=2, kv_num_heads=1)],
                                  [vi("q", shape=(1, 3, 4)), vi("k", shape=(1, 3, 2)), vi("v", shape=(1, 3, 2))],
                                  [vi("y", shape=(1, 3, 4))], opset=23)
    yield "stft.onnx", model([helper.make_node("STFT", ["x", "s", "", "l"], ["y"]),
                              helper.make_node("DFT", ["y", "", "a"], ["z"], inverse=1)],
                             [vi("x", shape=(1, 16, 1))], [vi("z", shape=(1, 5, 3, 2))],
                             [f("s", np.array(3, np.int64)), f("l", np.array(4, np.int64)), f("a", np.array(2, np.int64))], opset=20)
    yield "sequence.onnx", model([helper.make_node("SplitToSequence", ["x"], ["s"], axis=1),
                                  helper.make_node("SequenceErase", ["s", "p"], ["t"]),
                                  helper.make_node("ConcatFromSequence", ["t"], ["y"], axis=1)],
                                 [vi("x")], [vi("y", shape=(2, 3))], [f("p", np.array(-1, np.int64))], opset=17)
    yield "unique-compress.onnx", model([helper.make_node("Unique", ["x"], ["u", "i", "v", "c"], axis=0),
                                         helper.make_node("Compress", ["x", "k"], ["y"], axis=1)],
                                        [vi("x")], [vi("y", shape=(2, 2))], [f("k", np.array([1, 0, 1], bool))], opset=13)


def main():
    for name, data in models():
        write("onnx", name, data)
        write("exec", name, data)
    for name, data in new_operator_models():
        write("exec", name, data)
    for name, array in [("f4.npy", np.arange(8, dtype=np.float32).reshape(2, 4)), ("u1.npy", np.arange(6, dtype=np.uint8)),
                        ("i8-fortran.npy", np.asfortranarray(np.arange(6, dtype=np.int64).reshape(2, 3))),
                        ("f2-scalar.npy", np.float16(1.5)), ("b1-empty.npy", np.zeros((0, 3), bool)), ("big-endian-f8.npy", np.arange(3, dtype=">f8"))]:
        buffer = io.BytesIO()
        np.save(buffer, array)
        write("npy", name, buffer.getvalue())
    write("npy", "v2.npy", hostile.npy_bytes("<i4", "(2,)", b"\x01\x00\x00\x00\x02\x00\x00\x00", version=2))
    write("npz", "stored.npz", hostile.good_npz(arrays={"x": np.ones((2, 2), np.float32), "ids": np.arange(3)}))
    write("npz", "deflated.npz", hostile.good_npz(compressed=True, arrays={"x": np.ones((2, 2), np.float32)}))
    write("npz", "zip64-offset.npz", hostile.zip64_offset_only(np.ones((2, 4), np.float32)))
    from polygraphy.json import to_json
    feeds = [{"x": np.ones((2, 4), np.float32)}, {"x": np.zeros((2, 4), np.float32), "ids": np.arange(3)}]
    write("polygraphy-json", "feeds.json", to_json(feeds).encode())
    cache = "TRT-8601-EntropyCalibration2\nx: 3c010a14\ny: 3d8b3b9f\n(Unnamed Layer* 3) [Activation]_output: 3e1a5b8c\n"
    write("trt-cache", "cache.calib", cache.encode())
    write("trt-cache", "legacy.calib", b"TRT-7000-EntropyCalibration2\nx: 3f800000\n")
    # A stats file as `octet calibrate --save-stats` writes it (OCTET names the binary).
    import os
    import subprocess
    import tempfile
    binary = os.environ.get("OCTET", str(ROOT.parent.parent / ".build" / "debug" / "octet"))
    with tempfile.TemporaryDirectory() as folder:
        folder = pathlib.Path(folder)
        (folder / "m.onnx").write_bytes(dict(models())["matmul-softmax.onnx"])
        np.savez(folder / "calib.npz", x=np.random.default_rng(0).standard_normal((4, 2, 4)).astype(np.float32))
        subprocess.run([binary, "calibrate", folder / "m.onnx", "--calibration-data", folder / "calib.npz",
                        "--save-stats", folder / "stats.json"], check=True, capture_output=True)
        write("stats", "stats.json", (folder / "stats.json").read_bytes())


if __name__ == "__main__":
    main()
