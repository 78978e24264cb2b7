"""Octet's CPU engine against ONNX Runtime on whole models built with onnx.helper: per output,
max|octet - ort| / max|ort| must stay within 1e-4, at two input sizes where dims are dynamic."""
import pytest

import models
from ort_check import matches_onnx_runtime

MODELS = models.engine_models()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_matches_onnx_runtime(tmp_path, octet, name):
    model, feed_sets = MODELS[name]
    matches_onnx_runtime(tmp_path, octet, name, model, feed_sets)
