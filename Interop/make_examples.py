"""Writes the bundled example models and data under Examples/ (run by scripts/make-examples).

The files are committed so the README's quick start needs nothing but Swift; rerunning this
script rebuilds them byte for byte (weights come from a fixed seed)."""
import pathlib

import numpy as np
import onnx

import models

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main():
    folder = ROOT / "Examples" / "mini-encoder"
    folder.mkdir(parents=True, exist_ok=True)
    model = models.mini_encoder(opset=17)
    model.producer_name = "octet-examples"
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(folder / "model.onnx"))
    print(f"wrote {folder / 'model.onnx'}")
    # 32 calibration samples of 12 tokens, stacked on axis 0, with 0-5 padding positions each
    # (the model turns them into a -inf attention mask).
    rng = np.random.default_rng(7)
    count, length = 32, 12
    mask = np.ones((count, length), np.int64)
    for i in range(count):
        mask[i, length - i % 6:] = 0
    ids = np.where(mask == 1, rng.integers(1, 50, (count, length)), 0).astype(np.int64)
    types = (np.arange(length) >= length // 2).astype(np.int64)[None].repeat(count, 0)
    np.savez(folder / "calib.npz", input_ids=ids, attention_mask=mask, token_type_ids=types)
    print(f"wrote {folder / 'calib.npz'}")


if __name__ == "__main__":
    main()
