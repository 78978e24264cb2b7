"""NumPy files cross between NumPy and Octet in both directions: NumPy writes, `octet data
convert` reads and rewrites, NumPy reads Octet's file back and finds the same arrays."""
import io

import numpy as np
import pytest

DTYPES = ["f2", "f4", "f8", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "b1", "c8", "c16"]
SHAPES = [(), (5,), (2, 3, 4), (0, 3), (3, 1, 2, 2)]


def sample(code, shape, seed=0):
    rng = np.random.default_rng(seed)
    dtype = np.dtype("<" + code)
    size = int(np.prod(shape))
    if dtype.kind == "b":
        values = rng.random(size) > 0.5
    elif dtype.kind == "c":
        values = rng.standard_normal(size) * 100 + 1j * rng.standard_normal(size)
    elif dtype.kind == "f":
        values = rng.standard_normal(size) * 1000
        if size >= 4:
            values[:4] = [np.inf, -np.inf, np.nan, -0.0]
    else:
        info = np.iinfo(dtype)
        values = rng.integers(info.min, info.max, size, dtype=dtype, endpoint=True)
        if size >= 2:
            values[:2] = [info.min, info.max]
    return np.asarray(values).astype(dtype).reshape(shape)


def same(actual, expected):
    assert actual.shape == expected.shape
    assert actual.dtype.newbyteorder("=") == expected.dtype.newbyteorder("=") or actual.dtype == expected.dtype.newbyteorder("<")
    assert actual.dtype.byteorder in ("<", "|", "="), "Octet writes little-endian"
    np.testing.assert_array_equal(actual, expected.astype(expected.dtype.newbyteorder("<")))


@pytest.mark.parametrize("code", DTYPES)
@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("fortran", [False, True])
@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_npy_from_numpy(tmp_path, octet, code, byteorder, fortran, version):
    for index, shape in enumerate(SHAPES):
        array = sample(code, shape, seed=index).astype(np.dtype(code).newbyteorder(byteorder))
        if fortran:
            array = np.asfortranarray(array)
        source = tmp_path / f"in{index}.npy"
        with open(source, "wb") as handle:
            np.lib.format.write_array(handle, array, version=version)
        if fortran and not array.flags.c_contiguous:
            assert b"'fortran_order': True" in source.read_bytes()
        target = tmp_path / f"out{index}.npy"
        octet("data", "convert", source, "-o", target)
        same(np.load(target), array)


@pytest.mark.parametrize("compressed_in", [False, True])
@pytest.mark.parametrize("compressed_out", [False, True])
def test_npz_both_ways(tmp_path, octet, compressed_in, compressed_out):
    arrays = {f"{code}_{i}": sample(code, shape, seed=i) for code in DTYPES for i, shape in enumerate(SHAPES)}
    arrays["input_ids"] = np.arange(24, dtype=np.int64).reshape(2, 12)
    arrays["images:0"] = sample("f4", (2, 3, 8, 8))
    source = tmp_path / "in.npz"
    (np.savez_compressed if compressed_in else np.savez)(source, **arrays)
    target = tmp_path / "out.npz"
    octet("data", "convert", source, "-o", target, *(["--compressed"] if compressed_out else []))
    with np.load(target, allow_pickle=False) as loaded:
        assert list(loaded.keys()) == list(arrays.keys())
        for key, value in arrays.items():
            same(loaded[key], value)
    # Octet's own archive reads back into Octet unchanged.
    again = tmp_path / "again.npz"
    octet("data", "convert", target, "-o", again)
    with np.load(again) as loaded:
        for key, value in arrays.items():
            same(loaded[key], value)


def test_npy_files_gather_into_npz(tmp_path, octet):
    ids = np.arange(6, dtype=np.int64).reshape(1, 6)
    mask = np.ones((1, 6), np.int64)
    np.save(tmp_path / "input_ids.npy", ids)
    np.save(tmp_path / "attention_mask.npy", mask)
    octet("data", "convert", tmp_path / "input_ids.npy", tmp_path / "attention_mask.npy", "-o", tmp_path / "feeds.npz")
    with np.load(tmp_path / "feeds.npz") as loaded:
        np.testing.assert_array_equal(loaded["input_ids"], ids)
        np.testing.assert_array_equal(loaded["attention_mask"], mask)


def test_pickled_member_is_refused(tmp_path, octet):
    path = tmp_path / "pickled.npz"
    np.savez(path, good=np.zeros(3, np.float32), bad=np.array([{"a": 1}], dtype=object))
    result = octet("data", "convert", path, "-o", tmp_path / "out.npz", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ")
    assert "pickled.npz:bad.npy" in result.stderr and "object arrays" in result.stderr
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("array, words", [
    (np.array(["ab", "c"]), "string arrays"),
    (np.zeros(2, dtype=[("x", "<f4"), ("y", "<i4")]), "structured"),
])
def test_unsupported_npy_types(tmp_path, octet, array, words):
    path = tmp_path / "odd.npy"
    np.save(path, array)
    result = octet("data", "convert", path, "-o", tmp_path / "out.npy", check=False)
    assert result.returncode == 1
    assert str(path) in result.stderr and words in result.stderr


def test_not_an_npz(tmp_path, octet):
    path = tmp_path / "plain.npz"
    path.write_bytes(b"this is not a zip archive at all")
    result = octet("data", "convert", path, "-o", tmp_path / "out.npz", check=False)
    assert result.returncode == 1
    assert f"{path}: not a NumPy .npz archive" in result.stderr


def test_zip_with_other_members(tmp_path, octet):
    import zipfile
    path = tmp_path / "other.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    result = octet("data", "convert", path, "-o", tmp_path / "out.npz", check=False)
    assert result.returncode == 1
    assert "readme.txt" in result.stderr and "not a .npy file" in result.stderr
