"""Hostile inputs, grouped by the way they used to break Octet (issue 12). Each case writes its
files into a folder and returns the `octet` command line to try; `test_hostile.py` runs every
case under a memory limit and a time limit and checks that it ends clean: a result (exit 0) or
one `Error:` line naming the offending file (exit 1), nothing left behind.

A case is `Case(group, name, build)` where `build(folder) -> Run`."""
import dataclasses
import io
import os
import struct
import zipfile
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

I64_MAX = 2**63 - 1
I64_MIN = -(2**63)
HUGE = [2**31, 2**40, 2**62, I64_MAX, I64_MIN, -(2**62)]


@dataclasses.dataclass
class Run:
    """What to run: `octet` arguments, the file the error must name, and what must be true after."""

    args: list
    names: str  # a substring the `Error:` line must contain (a file name or path)
    exit_codes: tuple = (0, 1)
    stdin: bytes = b""
    signal_after: float = 0.0  # > 0: send `signal` this many seconds after start
    signal: int = 0
    timeout: float = 120.0
    signal_group: bool = False  # send the signal to Octet's whole process group (Ctrl-C in a terminal)
    signal_on_file: str = ""  # a glob in the case's folder: count signal_after from its appearance
    expect_exit: int = 0  # nonzero: exactly this exit code is required
    memory_limit: int = 6 << 30  # RLIMIT_AS for the run


@dataclasses.dataclass
class Case:
    group: str
    name: str
    build: object


# ---------------------------------------------------------------------------------- helpers

def save_model(folder, nodes, inputs, outputs, initializers=(), opset=13, name="model.onnx"):
    graph = helper.make_graph(nodes, "hostile", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    path = folder / name
    path.write_bytes(model.SerializeToString())
    return path


def vi(name, dtype=TensorProto.FLOAT, shape=None):
    return helper.make_tensor_value_info(name, dtype, shape)


def i64(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def run_model(folder, model, feeds):
    np.savez(folder / "in.npz", **feeds)
    return Run(["run", model, "--load-inputs", folder / "in.npz"], names=model.name)


def single_op(op, attrs=None, inits=(), extra_inputs=(), x=None, out_type=TensorProto.FLOAT, opset=13, x_type=None):
    """A model `y = op(x, *extra_inputs)` with `x` fed from a file."""
    x = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4) if x is None else x

    def build(folder):
        elem = x_type if x_type is not None else helper.np_dtype_to_tensor_dtype(x.dtype)
        node = helper.make_node(op, ["x", *extra_inputs], ["y"], name=f"{op.lower()}_node", **(attrs or {}))
        path = save_model(folder, [node], [vi("x", elem, list(x.shape))], [vi("y", out_type)],
                          initializers=inits, opset=opset)
        return run_model(folder, path, {"x": x})

    return build


# -------------------------------------------------------------- integer overflow on sizes

def overflow_cases():
    cases = []
    image = np.ones((1, 1, 4, 4), np.float32)
    for value in HUGE:
        v = value
        cases += [
            Case("overflow", f"pad-attr-{v}", single_op("Pad", {"pads": [0, 0, 0, v, 0, 0, 0, v]}, opset=10, x=image)),
            Case("overflow", f"pad-input-{v}", single_op("Pad", inits=[i64("p", [0, 0, v, 0, 0, 0, v, 0])], extra_inputs=["p"], x=image)),
            Case("overflow", f"conv-pads-{v}", conv_case(pads=[v, 0, v, 0])),
            Case("overflow", f"conv-strides-{v}", conv_case(strides=[v, 1])),
            Case("overflow", f"conv-dilations-{v}", conv_case(dilations=[v, 1])),
            Case("overflow", f"conv-group-{v}", conv_case(group=v)),
            Case("overflow", f"maxpool-kernel-{v}", single_op("MaxPool", {"kernel_shape": [v, 2]}, x=image)),
            Case("overflow", f"maxpool-pads-{v}", single_op("MaxPool", {"kernel_shape": [2, 2], "pads": [v, v, 0, 0]}, x=image)),
            Case("overflow", f"maxpool-strides-{v}", single_op("MaxPool", {"kernel_shape": [2, 2], "strides": [v, 1]}, x=image)),
            Case("overflow", f"avgpool-dilations-{v}", single_op("AveragePool", {"kernel_shape": [2, 2], "dilations": [v, 1]}, opset=19, x=image)),
            Case("overflow", f"slice-{v}", single_op("Slice", inits=[i64("s", [v]), i64("e", [-v if v != I64_MIN else I64_MAX]), i64("a", [3]), i64("st", [v])], extra_inputs=["s", "e", "a", "st"], x=image)),
            Case("overflow", f"depthtospace-{v}", single_op("DepthToSpace", {"blocksize": v}, x=image)),
            Case("overflow", f"spacetodepth-{v}", single_op("SpaceToDepth", {"blocksize": v}, x=image)),
            Case("overflow", f"split-{v}", single_op("Split", inits=[i64("sp", [v, 4 - v if v != I64_MIN else 4])], extra_inputs=["sp"], attrs={"axis": 3}, x=image)),
            Case("overflow", f"tile-{v}", single_op("Tile", inits=[i64("r", [1, 1, v, v])], extra_inputs=["r"], x=image)),
            Case("overflow", f"expand-{v}", single_op("Expand", inits=[i64("sh", [v, v, 4, 4])], extra_inputs=["sh"], x=image)),
            Case("overflow", f"reshape-{v}", single_op("Reshape", inits=[i64("sh", [v, v, 0])], extra_inputs=["sh"], x=image)),
            Case("overflow", f"constantofshape-{v}", constant_of_shape_case([v, v])),
            Case("overflow", f"constantofshape-empty-{v}", constant_of_shape_case([0, v, v])),
            Case("overflow", f"concat-empty-{v}", concat_empty_case(v)),
            Case("overflow", f"range-{v}", range_case(v)),
            Case("overflow", f"onehot-{v}", onehot_case(v)),
            Case("overflow", f"topk-{v}", single_op("TopK", inits=[i64("k", [v])], extra_inputs=["k"], x=image)),
            Case("overflow", f"gather-{v}", single_op("Gather", inits=[i64("i", [v])], extra_inputs=["i"], attrs={"axis": 2}, x=image)),
            Case("overflow", f"gather-axis-{v}", single_op("Gather", inits=[i64("i", [0])], extra_inputs=["i"], attrs={"axis": v}, x=image)),
            Case("overflow", f"unsqueeze-{v}", single_op("Unsqueeze", inits=[i64("ax", [v])], extra_inputs=["ax"], x=image)),
            Case("overflow", f"flatten-{v}", single_op("Flatten", {"axis": v}, x=image)),
            Case("overflow", f"transpose-{v}", single_op("Transpose", {"perm": [0, 1, 3, v]}, x=image)),
            Case("overflow", f"reducesum-{v}", single_op("ReduceSum", inits=[i64("ax", [v])], extra_inputs=["ax"], x=image)),
            Case("overflow", f"trilu-{v}", single_op("Trilu", inits=[i64("k", v)], extra_inputs=["k"], opset=14, x=image)),
            Case("overflow", f"cumsum-{v}", single_op("CumSum", inits=[i64("ax", v)], extra_inputs=["ax"], x=image)),
            Case("overflow", f"shape-{v}", single_op("Shape", {"start": v, "end": -v if v != I64_MIN else I64_MAX}, opset=15, out_type=TensorProto.INT64, x=image)),
            Case("overflow", f"resize-sizes-{v}", single_op("Resize", inits=[i64("sz", [1, 1, v, v])], extra_inputs=["", "", "sz"], x=image)),
            Case("overflow", f"convtranspose-outpad-{v}", conv_case(op="ConvTranspose", output_padding=[v, 0], strides=[2, 2])),
            Case("overflow", f"convtranspose-outshape-{v}", conv_case(op="ConvTranspose", output_shape=[v, v])),
            Case("overflow", f"lstm-hidden-{v}", lstm_case(v)),
            Case("overflow", f"scatternd-{v}", scatter_nd_case(v)),
            Case("overflow", f"nms-{v}", nms_case(v)),
            Case("overflow", f"eyeless-gatherelements-{v}", single_op("GatherElements", inits=[i64("i", np.full((1, 1, 4, 4), v % 2**62))], extra_inputs=["i"], attrs={"axis": 3}, x=image)),
        ]
    for scale in [1e30, float("inf"), float("nan"), -1.0, 1e-30]:
        scales = numpy_helper.from_array(np.array([1, 1, scale, scale], np.float32), "sc")
        cases.append(Case("overflow", f"resize-scales-{scale}", single_op("Resize", inits=[scales], extra_inputs=["", "sc"], x=image)))
    for start, limit, delta in [(0.0, 1e30, 1.0), (0.0, float("inf"), 1.0), (0.0, 1.0, 0.0), (float("nan"), 1.0, 1.0), (0.0, 1e10, 1e-30)]:
        cases.append(Case("overflow", f"range-float-{start}-{limit}-{delta}", float_range_case(start, limit, delta)))
    cases.append(Case("overflow", "npy-zero-product-huge-dims", npy_case(lambda: npy_bytes("<f4", "(0, 1099511627776, 1099511627776)", b""))))
    cases.append(Case("overflow", "npy-huge-shape", npy_case(lambda: npy_bytes("<f4", "(4611686018427387904, 4)", b""))))
    cases.append(Case("overflow", "npy-dim-above-int64", npy_case(lambda: npy_bytes("<f4", "(99999999999999999999999,)", b""))))
    cases.append(Case("overflow", "npy-negative-dim", npy_case(lambda: npy_bytes("<f4", "(-1, 4)", b""))))
    cases.append(Case("overflow", "initializer-huge-dims", huge_initializer_case([2**40, 2**40, 0])))
    cases.append(Case("overflow", "initializer-dims-overflow", huge_initializer_case([2**62, 2**62])))
    cases.append(Case("overflow", "initializer-negative-dims", huge_initializer_case([-4, 2])))
    return cases


def conv_case(op="Conv", **attrs):
    def build(folder):
        x = np.ones((1, 1, 4, 4), np.float32)
        w = numpy_helper.from_array(np.ones((1, 1, 2, 2), np.float32), "w")
        node = helper.make_node(op, ["x", "w"], ["y"], name="conv_node", kernel_shape=[2, 2], **attrs)
        path = save_model(folder, [node], [vi("x", shape=[1, 1, 4, 4])], [vi("y")], initializers=[w])
        return run_model(folder, path, {"x": x})

    return build


def constant_of_shape_case(shape):
    def build(folder):
        node = helper.make_node("ConstantOfShape", ["s"], ["y"], name="cos_node")
        path = save_model(folder, [node], [vi("s", TensorProto.INT64, [len(shape)])], [vi("y")])
        return run_model(folder, path, {"s": np.array(shape, np.int64)})

    return build


def concat_empty_case(v):
    def build(folder):
        nodes = [helper.make_node("ConstantOfShape", ["s"], ["e"], name="cos_node",
                                  value=numpy_helper.from_array(np.zeros(1, np.uint8))),
                 helper.make_node("Concat", ["e", "e", "e"], ["y"], name="concat_node", axis=1),
                 helper.make_node("Pad", ["y", "p"], ["z"], name="pad_node")]
        path = save_model(folder, nodes, [vi("s", TensorProto.INT64, [2])], [vi("z", TensorProto.UINT8)],
                          initializers=[i64("p", [1, 1, 1, 1])])
        return run_model(folder, path, {"s": np.array([0, v], np.int64)})

    return build


def range_case(v):
    def build(folder):
        node = helper.make_node("Range", ["a", "b", "c"], ["y"], name="range_node")
        inits = [i64("a", -v if v != I64_MIN else I64_MAX), i64("b", v), i64("c", 1)]
        path = save_model(folder, [node], [vi("x")], [vi("y", TensorProto.INT64)], initializers=inits)
        return run_model(folder, path, {"x": np.ones(1, np.float32)})

    return build


def float_range_case(start, limit, delta):
    def build(folder):
        node = helper.make_node("Range", ["a", "b", "c"], ["y"], name="range_node")
        inits = [numpy_helper.from_array(np.array(value, np.float32), n) for n, value in zip("abc", (start, limit, delta))]
        path = save_model(folder, [node], [vi("x")], [vi("y")], initializers=inits)
        return run_model(folder, path, {"x": np.ones(1, np.float32)})

    return build


def onehot_case(v):
    def build(folder):
        node = helper.make_node("OneHot", ["i", "d", "vals"], ["y"], name="onehot_node")
        inits = [i64("d", v), numpy_helper.from_array(np.array([0, 1], np.float32), "vals")]
        path = save_model(folder, [node], [vi("i", TensorProto.INT64, [2])], [vi("y")], initializers=inits)
        return run_model(folder, path, {"i": np.array([0, 1], np.int64)})

    return build


def lstm_case(hidden):
    def build(folder):
        w = numpy_helper.from_array(np.ones((1, 8, 2), np.float32), "w")
        r = numpy_helper.from_array(np.ones((1, 8, 2), np.float32), "r")
        node = helper.make_node("LSTM", ["x", "w", "r"], ["y"], name="lstm_node", hidden_size=hidden)
        path = save_model(folder, [node], [vi("x", shape=[3, 1, 2])], [vi("y")], initializers=[w, r])
        return run_model(folder, path, {"x": np.ones((3, 1, 2), np.float32)})

    return build


def scatter_nd_case(v):
    def build(folder):
        node = helper.make_node("ScatterND", ["x", "i", "u"], ["y"], name="scatter_node")
        inits = [i64("i", [[v % (2**62)]]), numpy_helper.from_array(np.ones((1, 4), np.float32), "u")]
        path = save_model(folder, [node], [vi("x", shape=[4, 4])], [vi("y")], initializers=inits)
        return run_model(folder, path, {"x": np.ones((4, 4), np.float32)})

    return build


def nms_case(v):
    def build(folder):
        node = helper.make_node("NonMaxSuppression", ["b", "s", "m"], ["y"], name="nms_node")
        path = save_model(folder, [node], [vi("b", shape=[1, 2, 4]), vi("s", shape=[1, 1, 2])], [vi("y", TensorProto.INT64)],
                          initializers=[i64("m", [v])])
        boxes = np.array([[[0, 0, 1, 1], [0, 0, 1, 1]]], np.float32)
        return run_model(folder, path, {"b": boxes, "s": np.ones((1, 1, 2), np.float32)})

    return build


def huge_initializer_case(dims):
    def build(folder):
        t = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=dims)
        node = helper.make_node("Add", ["x", "w"], ["y"], name="add_node")
        path = save_model(folder, [node], [vi("x", shape=[1])], [vi("y")], initializers=[t])
        return Run(["inspect", path], names=path.name)

    return build


# ------------------------------------------------------------------ NumPy files and ZIPs

def npy_bytes(descr, shape, data, version=1, fortran="False", raw_header=None):
    header = raw_header if raw_header is not None else f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}"
    body = header.encode("latin-1") + b"\n"
    if version == 1 and len(body) <= 0xFFFF:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body + data
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<I", len(body)) + body + data


def simple_model(folder, shape=(2, 4), dtype=TensorProto.FLOAT):
    node = helper.make_node("Relu", ["x"], ["y"], name="relu_node")
    return save_model(folder, [node], [vi("x", dtype, list(shape))], [vi("y", dtype)])


def data_file_case(file_name, make_bytes, command="data-check"):
    """`make_bytes()` saved as `file_name`, read by `data check` or (`command="run"`) `run`."""
    def build(folder):
        model = simple_model(folder)
        (folder / file_name).write_bytes(make_bytes())
        flag = "--load-inputs" if command == "run" else "--calibration-data"
        verb = ["run"] if command == "run" else ["data", "check"]
        return Run(verb + [model, flag, folder / file_name], names=file_name)

    return build


def npy_case(make_bytes, command="data-check"):
    return data_file_case("x.npy", make_bytes, command)


def npz_case(make_bytes, command="data-check"):
    return data_file_case("calib.npz", make_bytes, command)


def good_npz(compressed=False, arrays=None):
    buffer = io.BytesIO()
    arrays = arrays or {"x": np.ones((3, 2, 4), np.float32)}
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def zip_with(members, method=zipfile.ZIP_STORED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def patch(data, offset, fmt, value):
    data = bytearray(data)
    struct.pack_into(fmt, data, offset, value)
    return bytes(data)


def central(data):
    """Offsets of the central directory entries and the end record."""
    end = data.rfind(b"PK\x05\x06")
    start = struct.unpack_from("<I", data, end + 16)[0]
    entries, cursor = [], start
    while data[cursor:cursor + 4] == b"PK\x01\x02":
        entries.append(cursor)
        n, m, k = struct.unpack_from("<HHH", data, cursor + 28)
        cursor += 46 + n + m + k
    return entries, end


def deflate_raw(data, level=9):
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def deflate_bomb(inflated_size, declared_size):
    """A stored-name .npz whose single deflated member inflates to `inflated_size` bytes of a
    valid .npy while its headers declare `declared_size`."""
    header = npy_bytes("|u1", f"({inflated_size - 128},)", b"")
    header = header[:128] if len(header) >= 128 else header
    prefix = npy_bytes("|u1", f"({inflated_size},)", b"")
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunks = [compressor.compress(prefix)]
    zero = bytes(1 << 20)
    remaining = inflated_size
    while remaining > 0:
        piece = zero[:min(remaining, len(zero))]
        chunks.append(compressor.compress(piece))
        remaining -= len(piece)
    chunks.append(compressor.flush())
    payload = b"".join(chunks)
    crc = 0
    name = b"x.npy"
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(payload), declared_size, len(name), 0) + name
    entry = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(payload), declared_size,
                        len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(entry), len(local) + len(payload), 0)
    return local + payload + entry + end


def zip64_declaring(size):
    """One stored member whose ZIP64 extra field declares `size` bytes (both sizes)."""
    data = npy_bytes("<f4", "(2, 4)", np.ones((2, 4), np.float32).tobytes())
    name = b"x.npy"
    extra = struct.pack("<HHQQ", 1, 16, size, size)
    crc = zlib.crc32(data)
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(name), len(extra)) + name + extra
    entry = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                        len(name), len(extra), 0, 0, 0, 0, 0) + name + extra
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(entry), len(local) + len(data), 0)
    return local + data + entry + end


def zip64_offset_only(array):
    """A stored member whose local-header offset is saturated and given by a ZIP64 extra field
    carrying only the offset (its sizes fit in 32 bits)."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    data = buffer.getvalue()
    name = b"x.npy"
    crc = zlib.crc32(data)
    stub = b""
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0) + name
    extra = struct.pack("<HHQ", 1, 8, len(stub))
    entry = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc, len(data), len(data),
                        len(name), len(extra), 0, 0, 0, 0, 0xFFFFFFFF) + name + extra
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(entry), len(stub) + len(local) + len(data), 0)
    return stub + local + data + entry + end


def numpy_cases():
    cases = []
    good = npy_bytes("<f4", "(2, 4)", np.ones((2, 4), np.float32).tobytes())
    nested = "(" * 32000 + ")" * 32000
    variants = {
        "nested-parens-32000": npy_bytes("<f4", nested, b""),
        "nested-list-32000": npy_bytes("<f4", "[" * 32000 + "]" * 32000, b""),
        "nested-dict-10000": npy_bytes("", "", b"", raw_header="{'a': " * 10000 + "1" + "}" * 10000),
        "header-length-4GiB": b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFFFFFF) + b"{",
        "header-length-beyond-file": b"\x93NUMPY\x01\x00\xff\xff{'descr'",
        "header-unterminated-string": npy_bytes("", "", b"", raw_header="{'descr': '<f4"),
        "header-not-dict": npy_bytes("", "", b"", raw_header="[1, 2, 3]"),
        "header-huge-integer": npy_bytes("<f4", "(" + "9" * 5000 + ",)", b""),
        "header-binary-garbage": b"\x93NUMPY\x01\x00\x10\x00" + bytes(range(16)),
        "header-utf8-v3-invalid": npy_bytes("", "", b"", version=3, raw_header="{'descr': '\udcff'}".encode("utf-8", "surrogatepass").decode("latin-1")),
        "truncated-data": good[:-5],
        "extra-data": good + b"\x00" * 7,
        "empty-file": b"",
        "magic-only": b"\x93NUMPY",
        "version-9": b"\x93NUMPY\x09\x00" + good[8:],
        "object-dtype": npy_bytes("|O", "(2, 4)", b"\x00" * 64),
        "structured-dtype": npy_bytes("", "", b"", raw_header="{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 4), }"),
        "string-dtype": npy_bytes("<U4", "(2, 4)", b"\x00" * 128),
        "fortran-not-bool": npy_bytes("<f4", "(2, 4)", b"\x00" * 32, fortran="1"),
        "shape-not-tuple": npy_bytes("<f4", "'big'", b""),
        "shape-of-floats": npy_bytes("<f4", "(2.5, 4)", b""),
        "zero-rows-trillion-cols": npy_bytes("<f4", "(1000000000000, 0)", b""),
        "trillion-rows-zero-cols": npy_bytes("<f4", "(0, 1000000000000)", b""),
        "rank-64": npy_bytes("<f4", "(" + "1, " * 64 + ")", b"\x00" * 4),
        "rank-10000": npy_bytes("<f4", "(" + "1, " * 10000 + ")", b"\x00" * 4),
        "big-endian": npy_bytes(">f4", "(2, 4)", np.ones((2, 4), ">f4").tobytes()),
        "wrong-type-int8": npy_bytes("|i1", "(2, 4)", b"\x01" * 8),
        "wrong-rank": npy_bytes("<f4", "(8,)", np.ones(8, np.float32).tobytes()),
        "nan-values": npy_bytes("<f4", "(2, 4)", np.full((2, 4), np.nan, np.float32).tobytes()),
        "header-nul-bytes": npy_bytes("", "", b"", raw_header="{'descr': '<f4\x00', 'fortran_order': False, 'shape': (2, 4), }"),
    }
    for name, data in variants.items():
        cases.append(Case("numpy", f"npy-{name}", npy_case(lambda d=data: d)))
        cases.append(Case("numpy", f"npy-{name}-run", npy_case(lambda d=data: d, command="run")))
    return cases


def zip_variants(array):
    """Broken archives around one member `x.npy` holding `array`."""
    stored = good_npz(arrays={"x": array})
    deflated = good_npz(compressed=True, arrays={"x": array})
    entries, end = central(stored)
    d_entries, d_end = central(deflated)
    local_deflated_size = struct.unpack_from("<I", deflated, 18)[0]
    variants = {
        "bad-crc-stored": patch(patch(stored, entries[0] + 16, "<I", 0x12345678), 14, "<I", 0x12345678),
        "bad-crc-deflated": patch(patch(deflated, d_entries[0] + 16, "<I", 0x12345678), 14, "<I", 0x12345678),
        "bad-crc-central-only": patch(stored, entries[0] + 16, "<I", 0x12345678),
        "zip64-declares-2^45": zip64_declaring(2**45),
        "zip64-declares-2^63": zip64_declaring(2**63 - 1),
        "size-lie-small-stored": patch(patch(stored, entries[0] + 24, "<I", 10), entries[0] + 20, "<I", 10),
        "size-lie-large-stored": patch(patch(stored, entries[0] + 24, "<I", 10**9), entries[0] + 20, "<I", 10**9),
        "size-lie-deflated-declares-1KiB": patch(deflated, d_entries[0] + 24, "<I", 1024),
        "size-lie-deflated-declares-more": patch(deflated, d_entries[0] + 24, "<I", 10**6),
        "deflate-bomb-64MiB-declares-1KiB": deflate_bomb(64 << 20, 1024),
        "deflate-corrupt-stream": deflated[:40] + bytes(16) + deflated[56:],
        "directory-offset-off-by-one": patch(stored, end + 16, "<I", struct.unpack_from("<I", stored, end + 16)[0] + 1),
        "directory-offset-beyond-file": patch(stored, end + 16, "<I", 0x7FFFFFFF),
        "directory-count-lies-high": patch(patch(stored, end + 10, "<H", 500), end + 8, "<H", 500),
        "directory-count-lies-zero": patch(patch(stored, end + 10, "<H", 0), end + 8, "<H", 0),
        "local-offset-off-by-one": patch(stored, entries[0] + 42, "<I", 1),
        "local-offset-beyond-file": patch(stored, entries[0] + 42, "<I", 0x7FFFFFF0),
        "name-length-huge": patch(stored, entries[0] + 28, "<H", 0xFFFF),
        "extra-length-huge": patch(stored, entries[0] + 30, "<H", 0xFFFF),
        "method-unknown": patch(patch(stored, entries[0] + 10, "<H", 99), 8, "<H", 99),
        "encrypted-flag": patch(patch(stored, entries[0] + 8, "<H", 1), 6, "<H", 1),
        "truncated-half": stored[: len(stored) // 2],
        "truncated-end-record": stored[:-10],
        "only-end-record": stored[end:],
        "empty-archive": zip_with([]),
        "not-npy-member": zip_with([("readme.txt", b"hello")]),
        "duplicate-members": zip_with([("x.npy", npy_bytes("<f4", "(2, 4)", bytes(32))), ("x.npy", npy_bytes("<f4", "(2, 4)", bytes(32)))]),
        "member-is-not-npy": zip_with([("x.npy", b"PK\x03\x04 not numpy")]),
        "member-huge-shape": zip_with([("x.npy", npy_bytes("<f4", "(1099511627776, 4)", bytes(32)))]),
        "member-nested-header": zip_with([("x.npy", npy_bytes("<f4", "(" * 20000 + ")" * 20000, b""))]),
        "prepended-junk": b"\x00" * 100 + stored,
        "end-comment-garbage": stored[:-2] + struct.pack("<H", 40) + b"PK\x05\x06" + bytes(36),
        "path-traversal-name": zip_with([("../../x.npy", npy_bytes("<f4", "(2, 4)", bytes(32)))]),
        "unicode-name": zip_with([("\u00e9x.npy", npy_bytes("<f4", "(2, 4)", bytes(32)))]),
        "directory-member": zip_with([("x.npy/", b""), ("x.npy", npy_bytes("<f4", "(2, 4)", bytes(32)))]),
        "zip64-extra-carries-offset": zip64_offset_only(array),
        "deflated-local-size-zero": patch(deflated, 18, "<I", 0) if local_deflated_size else deflated,
    }
    return variants


def zip_cases():
    cases = []
    # `data check` reads three stacked samples of the model's [2, 4] input; `run` one feed.
    for name, data in zip_variants(np.ones((3, 2, 4), np.float32)).items():
        cases.append(Case("zip", f"npz-{name}", npz_case(lambda d=data: d)))
    for name, data in zip_variants(np.ones((2, 4), np.float32)).items():
        cases.append(Case("zip", f"npz-{name}-run", npz_case(lambda d=data: d, command="run")))
    return cases


# ----------------------------------------------------------------- hangs and child processes

LOADER_PRELUDE = "import os, subprocess, sys, time, signal, struct\nimport numpy as np\n"
SAMPLE = "{'x': np.ones((2, 4), np.float32)}"
LOADERS = {
    "sleeps-before-first-sample": "def load_data():\n    time.sleep(1000)\n    yield " + SAMPLE,
    "sleeps-between-samples": "def load_data():\n    yield " + SAMPLE + "\n    time.sleep(1000)\n    yield " + SAMPLE,
    "busy-loop": "def load_data():\n    while True:\n        pass\n    yield " + SAMPLE,
    "ignores-sigterm-and-sleeps": "signal.signal(signal.SIGTERM, signal.SIG_IGN)\ndef load_data():\n    time.sleep(1000)\n    yield " + SAMPLE,
    "child-holds-pipe-then-yields": "def load_data():\n    subprocess.Popen(['sleep', '1000'])\n    yield " + SAMPLE,
    "child-holds-pipe-then-crashes": "def load_data():\n    subprocess.Popen(['sleep', '1000'])\n    raise RuntimeError('boom')\n    yield " + SAMPLE,
    "grandchild-sleeps-after-exit": "def load_data():\n    subprocess.Popen(['sh', '-c', 'sleep 1000 &'])\n    yield " + SAMPLE,
    "writes-real-stdout": "def load_data():\n    os.write(1, b'garbage!')\n    yield " + SAMPLE,
    "declares-2^62-bytes": "def load_data():\n    os.write(1, b'OCTS' + struct.pack('<I', 1) + struct.pack('<I', 1) + b'x' + struct.pack('<Q', 2**62))\n    time.sleep(1000)\n    yield " + SAMPLE,
    "declares-then-closes": "def load_data():\n    os.write(1, b'OCTS' + struct.pack('<I', 1) + struct.pack('<I', 1) + b'x' + struct.pack('<Q', 1000))\n    os._exit(0)\n    yield " + SAMPLE,
    "yields-nothing": "def load_data():\n    return iter(())",
    "yields-non-dict": "def load_data():\n    yield [1, 2, 3]",
    "yields-strings": "def load_data():\n    yield {'x': np.array(['a', 'b'])}",
    "yields-object": "def load_data():\n    yield {'x': np.array([object()])}",
    "exits-nonzero": "def load_data():\n    sys.exit(7)\n    yield " + SAMPLE,
    "killed-by-signal": "def load_data():\n    os.kill(os.getpid(), signal.SIGKILL)\n    yield " + SAMPLE,
    "syntax-error": "def load_data(:\n    pass",
    "no-function": "def other():\n    pass",
    "huge-allocation": "def load_data():\n    yield {'x': np.ones((2**36,), np.uint8)}",
    "floods-stderr": "def load_data():\n    for i in range(200000):\n        print('noise ' * 20)\n    raise ValueError('after the noise')\n    yield " + SAMPLE,
    "many-samples-then-hang": "def load_data():\n    for i in range(5):\n        yield " + SAMPLE + "\n    time.sleep(1000)",
}


def loader_case(source, signal_after=0.0, signal_number=0, command="data-check"):
    def build(folder):
        model = simple_model(folder)
        script = folder / "loader.py"
        script.write_text(LOADER_PRELUDE + source + "\n")
        args = ["data", "check", model, "--data-loader-script", script, "--data-loader-timeout", "3"]
        if command == "calibrate":
            args = ["calibrate", model, "--data-loader-script", script, "--data-loader-timeout", "3",
                    "--calibration-cache", folder / "out.calib"]
        expect = 128 + signal_number if signal_number else 0
        return Run(args, names="loader.py", signal_after=signal_after, signal=signal_number, timeout=60, expect_exit=expect)

    return build


def fifo_case(name, command):
    def build(folder):
        model = simple_model(folder)
        os.mkfifo(folder / name)
        target = folder / name
        if command == "model":
            return Run(["inspect", target], names=name, timeout=20)
        if command == "run":
            return Run(["run", model, "--load-inputs", target], names=name, timeout=20)
        if command == "stats":
            return Run(["calibrate", model, "--load-stats", target, "--calibration-cache", folder / "c.calib"], names=name, timeout=20)
        return Run(["data", "check", model, "--calibration-data", target], names=name, timeout=20)

    return build


def fifo_in_folder_case():
    def build(folder):
        model = simple_model(folder)
        data = folder / "calib"
        data.mkdir()
        os.mkfifo(data / "x.npy")
        return Run(["data", "check", model, "--calibration-data", data], names="x.npy", timeout=20)

    return build


def hang_cases():
    cases = [Case("hangs", f"loader-{name}", loader_case(source)) for name, source in LOADERS.items()]
    cases.append(Case("hangs", "loader-sleeps-calibrate", loader_case(LOADERS["sleeps-before-first-sample"], command="calibrate")))
    for name, command in [("x.npy", "data"), ("calib.npz", "data"), ("feeds.json", "data"), ("x.npy", "run"),
                          ("fifo.onnx", "model"), ("stats.json", "stats")]:
        cases.append(Case("hangs", f"fifo-{name}-{command}", fifo_case(name, command)))
    cases.append(Case("hangs", "fifo-in-folder", fifo_in_folder_case()))
    return cases


# -------------------------------------------------------------------- interruption (signals)

def slow_model(folder, size=1024, depth=60, name="slow.onnx"):
    """A chain of MatMuls that the debug engine needs seconds for, with large outputs."""
    rng = np.random.default_rng(0)
    inits, nodes, value = [], [], "x"
    for i in range(depth):
        inits.append(numpy_helper.from_array((rng.standard_normal((size, size)) / np.sqrt(size)).astype(np.float32), f"w{i}"))
        nodes.append(helper.make_node("MatMul", [value, f"w{i}"], [f"h{i}"], name=f"mm{i}"))
        value = f"h{i}"
    return save_model(folder, nodes, [vi("x", shape=[size, size])], [vi(value)], initializers=inits, name=name)


def big_outputs_model(folder, count=12, side=4096):
    """Cheap element-wise nodes with 64 MB outputs: `run --outputs all` spends its time saving."""
    nodes = [helper.make_node("Neg" if i % 2 else "Relu", [f"v{i}"], [f"v{i + 1}"], name=f"n{i}") for i in range(count)]
    return save_model(folder, nodes, [vi("v0", shape=[side, side])], [vi(f"v{count}", shape=[side, side])], name="big.onnx")


def interrupted_run(delay, signal_number, to_group=False, while_writing=False):
    """`run --outputs all --save-outputs` interrupted after `delay` seconds, or (`while_writing`)
    `delay` seconds after its temporary output file appears."""
    def build(folder):
        model = big_outputs_model(folder, count=4, side=2048)
        np.save(folder / "v0.npy", np.ones((2048, 2048), np.float32))
        args = ["run", model, "--load-inputs", folder / "v0.npy", "--save-outputs", folder / "out.npz", "--outputs", "all"]
        return Run(args, names="big.onnx", signal_after=delay, signal=signal_number, timeout=120,
                   exit_codes=(0, 128 + signal_number), signal_group=to_group,
                   signal_on_file=".out.npz.*.tmp" if while_writing else "",
                   expect_exit=128 + signal_number if while_writing else 0)

    return build


def interrupted_convert(delay, signal_number):
    def build(folder):
        model = slow_model(folder, size=512, depth=40)
        np.savez(folder / "calib.npz", x=np.ones((4, 512, 512), np.float32))
        args = ["convert", model, "--int8", "--calibration-data", folder / "calib.npz", "-o", folder / "out.onnx",
                "--calibration-cache", folder / "out.calib"]
        return Run(args, names="slow.onnx", signal_after=delay, signal=signal_number, timeout=180,
                   exit_codes=(0, 128 + signal_number))

    return build


def interruption_cases():
    import signal as signals

    cases = []
    for delay in [0.0, 0.05, 0.2, 0.5]:
        for number in [signals.SIGINT, signals.SIGTERM]:
            name = signals.Signals(number).name
            cases.append(Case("interrupt", f"run-save-all-{name}-while-writing-{delay}s", interrupted_run(delay, number, while_writing=True)))
    for number in [signals.SIGINT, signals.SIGTERM]:
        cases.append(Case("interrupt", f"run-save-all-{signals.Signals(number).name}-computing", interrupted_run(1.0, number)))
    for delay in [0.5, 2.0, 4.0, 8.0]:
        for number in [signals.SIGINT, signals.SIGTERM]:
            cases.append(Case("interrupt", f"convert-{signals.Signals(number).name}-{delay}s", interrupted_convert(delay, number)))
    cases.append(Case("interrupt", "run-save-all-ctrl-c-to-group", interrupted_run(2.0, signals.SIGINT, to_group=True)))
    group_loader = loader_case(LOADERS["child-holds-pipe-then-yields"].replace("yield", "time.sleep(1000)\n    yield"), 1.5, signals.SIGINT)
    cases.append(Case("interrupt", "loader-ctrl-c-to-group", lambda folder: dataclasses.replace(group_loader(folder), signal_group=True)))
    for number in [signals.SIGINT, signals.SIGTERM]:
        name = signals.Signals(number).name
        cases.append(Case("interrupt", f"loader-sleeping-{name}", loader_case(LOADERS["sleeps-before-first-sample"], 1.5, number)))
        cases.append(Case("interrupt", f"loader-child-{name}", loader_case(LOADERS["child-holds-pipe-then-yields"].replace("yield", "time.sleep(1000)\n    yield"), 1.5, number)))
        cases.append(Case("interrupt", f"loader-calibrate-{name}", loader_case(LOADERS["many-samples-then-hang"], 1.5, number, command="calibrate")))
    return cases


# ------------------------------------------------------------ outputs that would destroy inputs

def quantize_args(folder, model):
    np.savez(folder / "calib.npz", x=np.ones((3, 2, 4), np.float32))
    return ["convert", model, "--int8", "--calibration-data", folder / "calib.npz"]


def output_case(kind):
    def build(folder):
        model = simple_model(folder)
        base = quantize_args(folder, model)
        if kind == "o-is-model":
            return Run(base + ["-o", model], names="model.onnx")
        if kind == "o-is-calibration-data":
            return Run(base + ["-o", folder / "calib.npz"], names="calib.npz")
        if kind == "cache-is-model":
            return Run(base + ["-o", folder / "q.onnx", "--calibration-cache", model], names="model.onnx")
        if kind == "external-is-output":
            return Run(base + ["-o", folder / "q.onnx", "--external-data-path", folder / "q.onnx"], names="q.onnx")
        if kind == "external-is-model":
            return Run(["convert", model, "-o", folder / "q.onnx", "--external-data-path", model], names="model.onnx")
        if kind == "external-is-folder":
            (folder / "weights").mkdir()
            return Run(["convert", model, "-o", folder / "q.onnx", "--external-data-path", folder / "weights"], names="weights")
        if kind == "o-is-folder":
            (folder / "out").mkdir()
            return Run(base + ["-o", folder / "out"], names="out")
        if kind == "o-is-fifo":
            os.mkfifo(folder / "pipe.onnx")
            return Run(base + ["-o", folder / "pipe.onnx"], names="pipe.onnx", timeout=20)
        if kind == "o-in-missing-folder":
            return Run(base + ["-o", folder / "missing" / "q.onnx"], names="missing")
        if kind == "save-outputs-is-input":
            np.savez(folder / "in.npz", x=np.ones((2, 4), np.float32))
            return Run(["run", model, "--load-inputs", folder / "in.npz", "--save-outputs", folder / "in.npz"], names="in.npz")
        if kind == "save-outputs-is-model":
            np.savez(folder / "in.npz", x=np.ones((2, 4), np.float32))
            return Run(["run", model, "--load-inputs", folder / "in.npz", "--save-outputs", model], names="--save-outputs")
        if kind == "save-stats-is-data":
            return Run(["calibrate", model, "--calibration-data", folder / "calib.npz", "--save-stats", folder / "calib.npz"], names="calib.npz")
        if kind == "ranges-json-is-model":
            return Run(["calibrate", model, "--calibration-data", folder / "calib.npz", "--ranges-json", model], names="model.onnx")
        if kind == "o-is-symlink-to-model":
            os.symlink(model, folder / "link.onnx")
            return Run(base + ["-o", folder / "link.onnx"], names="link.onnx")
        raise ValueError(kind)

    return build


OUTPUT_KINDS = ["o-is-model", "o-is-calibration-data", "cache-is-model", "external-is-output", "external-is-model",
                "external-is-folder", "o-is-folder", "o-is-fifo", "o-in-missing-folder", "save-outputs-is-input",
                "save-outputs-is-model", "save-stats-is-data", "ranges-json-is-model", "o-is-symlink-to-model"]


# --------------------------------------------------------------- error messages stay bounded

def long_attribute_case(count):
    def build(folder):
        node = helper.make_node("Transpose", ["x"], ["y"], name="t", perm=list(range(count)))
        path = save_model(folder, [node], [vi("x", shape=[2, 4])], [vi("y")])
        return run_model(folder, path, {"x": np.ones((2, 4), np.float32)})

    return build


def long_name_case(length, where):
    def build(folder):
        name = "n" * length
        if where == "input":
            node = helper.make_node("Relu", [name], ["y"], name="r")
            path = save_model(folder, [node], [vi(name, shape=[2, 4])], [vi("y")])
            np.savez(folder / "in.npz", x=np.ones((2, 4), np.float32))
            return Run(["run", path, "--load-inputs", folder / "in.npz"], names="in.npz")
        node = helper.make_node("NoSuchOp", ["x"], ["y"], name=name)
        path = save_model(folder, [node], [vi("x", shape=[2, 4])], [vi("y")])
        return run_model(folder, path, {"x": np.ones((2, 4), np.float32)})

    return build


def model_bytes_case(make_bytes, command="inspect"):
    def build(folder):
        path = folder / "broken.onnx"
        path.write_bytes(make_bytes())
        if command == "run":
            np.savez(folder / "in.npz", x=np.ones((2, 4), np.float32), c=np.array(True))
            return Run(["run", path, "--load-inputs", folder / "in.npz"], names="broken.onnx", expect_exit=0)
        return Run(["inspect", path], names="broken.onnx")

    return build


def nested_if_model(depth):
    """`depth` If nodes, each inside the previous one's then-branch (protobuf nesting)."""
    def leaf(output):
        return helper.make_graph([helper.make_node("Identity", ["x"], [output])], "leaf", [], [vi(output, shape=[2, 4])])

    # Serialized bottom-up by hand: onnx.helper copies the whole subgraph at every level.
    inner = leaf("out0").SerializeToString()
    for level in range(1, depth + 1):
        output = "y" if level == depth else f"out{level}"
        node = helper.make_node("If", ["c"], [output], name=f"if{level}", else_branch=leaf(output))
        then = onnx.AttributeProto(name="then_branch", type=onnx.AttributeProto.GRAPH)
        node_bytes = node.SerializeToString() + field(5, then.SerializeToString() + field(6, inner))
        graph = helper.make_graph([], f"g{level}", [], [vi(output, shape=[2, 4])])
        if level == depth:
            graph.input.extend([vi("x", shape=[2, 4]), vi("c", TensorProto.BOOL, [])])
        inner = field(1, node_bytes) + graph.SerializeToString()
    model = helper.make_model(helper.make_graph([], "top", [], []), opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    model.ClearField("graph")
    return model.SerializeToString() + field(7, inner)


def field(number, payload):
    """A length-delimited protobuf field."""
    key = number << 3 | 2
    return varint(key) + varint(len(payload)) + payload


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def broken_weights(kind):
    def build(folder):
        if kind == "raw-data-short":
            t = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1000], raw_data=b"\x00" * 12)
        elif kind == "float-data-short":
            t = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1000], float_data=[1.0, 2.0])
        elif kind == "external-offset-huge":
            t = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4], data_location=TensorProto.EXTERNAL)
            (folder / "w.bin").write_bytes(b"\x00" * 16)
            for key, value in [("location", "w.bin"), ("offset", str(2**62)), ("length", "16")]:
                entry = t.external_data.add()
                entry.key, entry.value = key, value
        elif kind == "external-length-huge":
            t = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4], data_location=TensorProto.EXTERNAL)
            (folder / "w.bin").write_bytes(b"\x00" * 16)
            for key, value in [("location", "w.bin"), ("offset", "0"), ("length", str(2**63 - 1))]:
                entry = t.external_data.add()
                entry.key, entry.value = key, value
        elif kind == "external-negative-offset":
            t = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4], data_location=TensorProto.EXTERNAL)
            (folder / "w.bin").write_bytes(b"\x00" * 16)
            for key, value in [("location", "w.bin"), ("offset", "-8")]:
                entry = t.external_data.add()
                entry.key, entry.value = key, value
        elif kind == "string-data-in-float":
            t = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2], string_data=[b"a", b"b"])
        elif kind == "unknown-dtype":
            t = onnx.TensorProto(name="w", data_type=99, dims=[4], raw_data=b"\x00" * 16)
        else:
            raise ValueError(kind)
        node = helper.make_node("Add", ["x", "w"], ["y"], name="add_node")
        path = save_model(folder, [node], [vi("x", shape=[4])], [vi("y")], initializers=[t])
        return run_model(folder, path, {"x": np.ones(4, np.float32)})

    return build


def contract_cases():
    cases = [Case("outputs", kind, output_case(kind)) for kind in OUTPUT_KINDS]
    cases += [
        Case("messages", "attribute-10M-entries", long_attribute_case(10_000_000)),
        Case("messages", "input-name-100k", long_name_case(100_000, "input")),
        Case("messages", "node-name-100k-unsupported", long_name_case(100_000, "node")),
        Case("messages", "model-empty-file", model_bytes_case(lambda: b"")),
        Case("messages", "model-random-bytes", model_bytes_case(lambda: bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8)))),
        Case("messages", "model-truncated", model_bytes_case(lambda: nested_if_model(3)[:-7])),
        Case("messages", "model-nested-if-20", model_bytes_case(lambda: nested_if_model(20), command="run")),
        Case("messages", "model-nested-if-5000", model_bytes_case(lambda: nested_if_model(5000))),
        Case("messages", "model-is-npz", model_bytes_case(lambda: good_npz())),
        Case("messages", "model-varint-overlong", model_bytes_case(lambda: b"\x08" + b"\xff" * 20)),
        Case("messages", "model-length-huge", model_bytes_case(lambda: b"\x3a\xff\xff\xff\xff\x0f" + b"\x00" * 10)),
    ]
    for kind in ["raw-data-short", "float-data-short", "external-offset-huge", "external-length-huge",
                 "external-negative-offset", "string-data-in-float", "unknown-dtype"]:
        cases.append(Case("messages", f"weights-{kind}", broken_weights(kind)))
    return cases


# ------------------------------------------ integer arithmetic wraps, valid oddities run

def wrap_case(op, dtype, a, b=None):
    def build(folder):
        np_type = {TensorProto.INT32: np.int32, TensorProto.INT64: np.int64}[dtype]
        inputs = ["x"] + (["w"] if b is not None else [])
        inits = [numpy_helper.from_array(np.array([b], np_type), "w")] if b is not None else []
        node = helper.make_node(op, inputs, ["y"], name="op_node")
        path = save_model(folder, [node], [vi("x", dtype, [1])], [vi("y", dtype)], initializers=inits)
        run = run_model(folder, path, {"x": np.array([a], np_type)})
        run.expect_exit = 0
        return run

    return build


def long_chain_case(length):
    def build(folder):
        nodes = [helper.make_node("Relu", [f"v{i}"], [f"v{i + 1}"], name=f"r{i}") for i in range(length)]
        path = save_model(folder, nodes, [vi("v0", shape=[4])], [vi(f"v{length}", shape=[4])])
        np.savez(folder / "in.npz", v0=np.ones(4, np.float32))
        return Run(["run", path, "--load-inputs", folder / "in.npz"], names="model.onnx", timeout=90, expect_exit=0)

    return build


def large_uint8_sample(count):
    """One uint8 sample of `count` bytes: validation once widened it to 8 bytes per element."""
    def build(folder):
        node = helper.make_node("Identity", ["x"], ["y"], name="identity_node")
        path = save_model(folder, [node], [vi("x", TensorProto.UINT8, [1, count])], [vi("y", TensorProto.UINT8)])
        np.save(folder / "x.npy", np.zeros((1, 1, count), np.uint8))
        return Run(["data", "check", path, "--calibration-data", folder / "x.npy"], names="x.npy",
                   expect_exit=0, memory_limit=1 << 30)

    return build


def valid_oddity_cases():
    cases = []
    for dtype, info in [(TensorProto.INT32, np.iinfo(np.int32)), (TensorProto.INT64, np.iinfo(np.int64))]:
        t = "int32" if dtype == TensorProto.INT32 else "int64"
        cases += [
            Case("wraparound", f"add-max-1-{t}", wrap_case("Add", dtype, int(info.max), 1)),
            Case("wraparound", f"sub-min-1-{t}", wrap_case("Sub", dtype, int(info.min), 1)),
            Case("wraparound", f"mul-max-2-{t}", wrap_case("Mul", dtype, int(info.max), 2)),
            Case("wraparound", f"div-min-minus1-{t}", wrap_case("Div", dtype, int(info.min), -1)),
            Case("wraparound", f"neg-min-{t}", wrap_case("Neg", dtype, int(info.min))),
            Case("wraparound", f"abs-min-{t}", wrap_case("Abs", dtype, int(info.min))),
            Case("wraparound", f"sum-max-max-{t}", wrap_case("Sum", dtype, int(info.max), int(info.max))),
            Case("wraparound", f"cumsum-{t}", wrap_case("CumSum", dtype, int(info.max), 0)),
            Case("wraparound", f"reducesum-{t}", wrap_case("ReduceSum", dtype, int(info.max))),
            Case("wraparound", f"reduceprod-{t}", wrap_case("ReduceProd", dtype, int(info.max))),
        ]
    cases.append(Case("wraparound", "planning-200k-node-chain", long_chain_case(200_000)))
    cases.append(Case("memory", "uint8-sample-150MB-under-1GiB", large_uint8_sample(150_000_000)))
    return cases


def sequence_file_case(kind, make_bytes):
    """A model reading a sequence (or optional) input, fed `make_bytes()` as test_data_set_0/input_0.pb."""
    def build(folder):
        if kind == "optional":
            nodes = [helper.make_node("OptionalHasElement", ["seq"], ["n"], name="has")]
            value = helper.make_value_info("seq", helper.make_optional_type_proto(helper.make_tensor_type_proto(TensorProto.FLOAT, None)))
            out = vi("n", TensorProto.BOOL, [])
        else:
            nodes = [helper.make_node("SequenceLength", ["seq"], ["n"], name="length")]
            value = helper.make_tensor_sequence_value_info("seq", TensorProto.FLOAT, None)
            out = vi("n", TensorProto.INT64, [])
        model = save_model(folder, nodes, [value], [out], opset=18)
        data = folder / "test_data_set_0"
        data.mkdir()
        (data / "input_0.pb").write_bytes(make_bytes())
        return Run(["run", model, "--load-inputs", data], names="input_0.pb")

    return build


def sequence_cases():
    """SequenceProto / OptionalProto input files: deep nesting, lengths that lie, huge declared
    sizes, truncation, the wrong kind for the input."""
    def sequence(elements=(), nested=(), name="seq"):
        proto = onnx.SequenceProto(name=name, elem_type=onnx.SequenceProto.SEQUENCE if nested else onnx.SequenceProto.TENSOR)
        proto.tensor_values.extend(elements)
        proto.sequence_values.extend(nested)
        return proto

    def nested(depth):
        # Wrapped by hand: protobuf's own encoder refuses nesting this deep.
        data = sequence([numpy_helper.from_array(np.ones(2, np.float32))], name="inner").SerializeToString()
        for _ in range(depth):
            data = b"\x0a\x03seq\x10\x03\x2a" + varint(len(data)) + data
        return data

    good = sequence([numpy_helper.from_array(np.ones((2, 3), np.float32), "a"), numpy_helper.from_array(np.zeros(4, np.float32), "b")])
    good_bytes = good.SerializeToString()
    huge = onnx.TensorProto(name="t", data_type=TensorProto.FLOAT, dims=[2**40, 2**40])
    lying = onnx.TensorProto(name="t", data_type=TensorProto.FLOAT, dims=[1000], raw_data=b"\x00" * 8)
    variants = {
        "nested-20": lambda: nested(20),
        "nested-5000": lambda: nested(5000),
        "truncated": lambda: good_bytes[:-7],
        "length-prefix-2^62": lambda: good_bytes[:good_bytes.index(b"\x1a")] + b"\x1a" + b"\xff" * 8 + b"\x3f" + good_bytes[-20:],
        "element-dims-2^80": lambda: sequence([huge]).SerializeToString(),
        "element-raw-data-short": lambda: sequence([lying]).SerializeToString(),
        "100k-empty-elements": lambda: sequence([onnx.TensorProto(name="e", data_type=TensorProto.FLOAT, dims=[0])] * 100_000).SerializeToString(),
        "garbage": lambda: bytes(range(256)) * 4,
    }
    cases = [Case("sequences", name, sequence_file_case("sequence", make)) for name, make in variants.items()]
    two = good_bytes
    cases.append(Case("sequences", "optional-fed-two-elements", sequence_file_case("optional", lambda: two)))
    cases.append(Case("sequences", "sequence-fed-a-tensor",
                      sequence_file_case("sequence", lambda: numpy_helper.from_array(np.ones(3, np.float32), "seq").SerializeToString())))
    return cases


# ------------------------------------------------- --target-metric scoring scripts (user code)

METRIC_PRELUDE = "import os, subprocess, sys, time\nimport numpy as np\n"
METRICS = {
    # name: (source, exit code when the run is not interrupted)
    "sleeps": ("def score(outputs):\n    time.sleep(1000)\n    return 1.0", 1),
    "busy-loop": ("def score(outputs):\n    while True:\n        pass", 1),
    "ignores-sigterm-and-sleeps": ("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                                   "def score(outputs):\n    time.sleep(1000)\n    return 1.0", 1),
    "child-holds-pipes-then-returns": ("def score(outputs):\n    subprocess.Popen(['sleep', '1000'])\n    return 1.0", 0),
    "grandchild-after-exit": ("def score(outputs):\n    subprocess.Popen(['sh', '-c', 'sleep 1000 &'])\n    return 1.0", 0),
    "floods-real-stdout": ("def score(outputs):\n    os.write(1, b'x' * (64 << 20))\n    return 1.0", 0),
    "floods-stderr": ("def score(outputs):\n    sys.stderr.write('y' * (64 << 20))\n    return 1.0", 0),
    "returns-nan": ("def score(outputs):\n    return float('nan')", 1),
    "returns-list": ("def score(outputs):\n    return [1, 2]", 1),
    "returns-10^400": ("def score(outputs):\n    return 10 ** 400", 1),
    "exits-0-without-score": ("def score(outputs):\n    os._exit(0)", 1),
    "kills-itself": ("def score(outputs):\n    os.kill(os.getpid(), 9)", 1),
    "no-such-function": ("def other(outputs):\n    return 1.0", 1),
    "syntax-error": ("def score(outputs)\n    return 1.0", 1),
    "endless-recursion": ("def score(outputs):\n    return score(outputs)", 1),
    "deletes-the-outputs": ("import glob\ndef score(outputs):\n    [os.remove(f) for f in glob.glob(os.path.join(os.environ.get('TMPDIR', '/tmp'), 'octet-metric-*', '*'))]\n"
                            "    return 1.0", 0),
}


def metric_case(source, expect, signal_after=0.0, signal_number=0, group=False):
    """`convert --int8 --target-metric metric.py --max-drop 100` on a one-Relu model."""
    def build(folder):
        model = simple_model(folder)
        np.savez(folder / "calib.npz", x=np.ones((4, 2, 4), np.float32))
        (folder / "metric.py").write_text(METRIC_PRELUDE + source + "\n")
        args = ["convert", model, "--int8", "--calibration-data", folder / "calib.npz", "--eval-data", folder / "calib.npz",
                "-o", folder / "out.onnx", "--target-metric", folder / "metric.py", "--max-drop", "100", "--target-metric-timeout", "3"]
        exit_code = 128 + signal_number if signal_number else expect
        return Run(args, names="metric.py", signal_after=signal_after, signal=signal_number, timeout=60, expect_exit=exit_code,
                   exit_codes=(exit_code,), signal_group=group)

    return build


def scoring_cases():
    import signal as signals

    cases = [Case("scoring", f"metric-{name}", metric_case(source, expect)) for name, (source, expect) in METRICS.items()]
    sleeps = METRICS["sleeps"][0]
    for number in [signals.SIGINT, signals.SIGTERM]:
        cases.append(Case("scoring", f"metric-sleeping-{signals.Signals(number).name}", metric_case(sleeps, 0, 1.5, number)))
    child = "def score(outputs):\n    subprocess.Popen(['sleep', '1000'])\n    time.sleep(1000)\n    return 1.0"
    cases.append(Case("scoring", "metric-child-ctrl-c-to-group", metric_case(child, 0, 1.5, signals.SIGINT, group=True)))
    return cases


def all_cases():
    return (overflow_cases() + numpy_cases() + zip_cases() + hang_cases() + interruption_cases() + contract_cases()
            + valid_oddity_cases() + sequence_cases() + scoring_cases())
