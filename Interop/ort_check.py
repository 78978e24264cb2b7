"""Runs a model on ONNX Runtime and through `octet run`, and compares every output."""
import numpy as np
import onnx
import onnxruntime as ort


def matches_onnx_runtime(tmp_path, octet, name, model, feed_sets, tolerance=1e-4):
    """Asserts max|octet − ort| / max|ort| ≤ `tolerance` for every output at every feed set
    (after `onnx.checker` accepts the model)."""
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
                assert error <= tolerance, f"{name} {output} at feed set {index}: relative error {error:.3g}"
