"""Integer arithmetic at the edges of int32/int64 wraps around (two's complement) as in ONNX
Runtime, instead of trapping: Add, Sub, Mul, Neg, Abs against ONNX Runtime; Div of the
minimum by -1 (ONNX Runtime itself dies of SIGFPE there) gives the minimum, as NumPy's
wrapping arithmetic does."""
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

TYPES = [(TensorProto.INT32, np.int32), (TensorProto.INT64, np.int64)]


def model(op, inputs, dtype):
    names = [f"x{i}" for i in range(inputs)]
    graph = helper.make_graph([helper.make_node(op, names, ["y"], name=op.lower())], op,
                              [helper.make_tensor_value_info(n, dtype, [4]) for n in names],
                              [helper.make_tensor_value_info("y", dtype, [4])])
    result = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    result.ir_version = 8
    return result


def run_octet(octet, tmp_path, m, feeds):
    import onnx
    onnx.save(m, str(tmp_path / "m.onnx"))
    np.savez(tmp_path / "in.npz", **feeds)
    octet("run", tmp_path / "m.onnx", "--load-inputs", tmp_path / "in.npz", "--save-outputs", tmp_path / "out.npz")
    return np.load(tmp_path / "out.npz")["y"]


@pytest.mark.parametrize("dtype,np_type", TYPES, ids=["int32", "int64"])
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Neg", "Abs"])
def test_wraps_like_onnx_runtime(tmp_path, octet, op, dtype, np_type):
    info = np.iinfo(np_type)
    edges = np.array([info.max, info.min, info.max - 1, -1], np_type)
    others = np.array([1, 1, 3, info.min], np_type)
    unary = op in ("Neg", "Abs")
    feeds = {"x0": np.array([info.min, info.min + 1, 0, info.max], np_type)} if unary else {"x0": edges, "x1": others}
    m = model(op, 1 if unary else 2, dtype)
    want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    got = run_octet(octet, tmp_path, m, feeds)
    assert got.dtype == want.dtype and np.array_equal(got, want), (op, got, want)


@pytest.mark.parametrize("dtype,np_type", TYPES, ids=["int32", "int64"])
def test_division_of_the_minimum_by_minus_one_wraps(tmp_path, octet, dtype, np_type):
    info = np.iinfo(np_type)
    feeds = {"x0": np.array([info.min, info.min, 7, -7], np_type), "x1": np.array([-1, 1, -2, 0], np_type)}
    got = run_octet(octet, tmp_path, model("Div", 2, dtype), feeds)
    # Truncating division; min / -1 wraps to min; a zero divisor gives 0 (Octet's documented choice).
    assert got.tolist() == [info.min, info.min, -3, 0]
