"""Writes the bundled example models under Examples/ (run by scripts/make-examples).

The files are committed so the README's quick start needs nothing but Swift; rerunning this
script rebuilds them byte for byte (weights come from a fixed seed)."""
import pathlib

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


if __name__ == "__main__":
    main()
