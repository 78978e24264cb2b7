"""Octet loads and saves models built with onnx.helper; the copies must pass onnx.checker,
equal the originals field by field, and give identical ONNX Runtime outputs."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import external_data_helper, numpy_helper

import models

MODELS = models.models()


def fresh(name):
    """A private copy of a model and its feeds (onnx.save_model with external data edits the
    model it is given)."""
    model, feeds = MODELS[name]
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy, feeds


def _tensors(model):
    """Every TensorProto in the model, subgraphs and attributes included."""
    def graph_tensors(graph):
        yield from graph.initializer
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.HasField("t"):
                    yield attribute.t
                yield from attribute.tensors
                if attribute.HasField("g"):
                    yield from graph_tensors(attribute.g)
                for sub in attribute.graphs:
                    yield from graph_tensors(sub)
    yield from graph_tensors(model.graph)


def normalized(path):
    """The model with external data loaded and every tensor re-encoded as raw_data, so two
    equivalent encodings of the same values compare equal."""
    model = onnx.load(str(path), load_external_data=True)
    for tensor in _tensors(model):
        if tensor.data_type == onnx.TensorProto.STRING:
            continue
        array = numpy_helper.to_array(tensor)
        fresh = numpy_helper.from_array(array, tensor.name)
        fresh.data_type = tensor.data_type
        fresh.doc_string = tensor.doc_string
        fresh.metadata_props.extend(tensor.metadata_props)
        tensor.CopyFrom(fresh)
    return model


def run_ort(path, feeds):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("layout", ["embedded", "external", "external_all"])
def test_round_trip(tmp_path, octet, name, layout):
    model, feeds = fresh(name)
    original = tmp_path / "original.onnx"
    onnx.save(model, str(original))
    copy = tmp_path / "out" / "copy.onnx"
    copy.parent.mkdir()
    args = ["convert", original, "-o", copy]
    if layout == "external":
        args += ["--save-external-data"]
    if layout == "external_all":
        args += ["--save-external-data", "--external-data-size-threshold", "0"]
    result = octet(*args)
    assert "Wrote" in result.stdout
    # onnx's shape inference cannot read external tensors (e.g. Unsqueeze axes), so the model
    # with every tensor external gets the structural check only.
    onnx.checker.check_model(str(copy), full_check=layout != "external_all")
    saved = onnx.load(str(copy), load_external_data=False)
    external = [t.name for t in saved.graph.initializer if external_data_helper.uses_external_data(t)]
    # String tensors always stay embedded (ONNX stores them in string_data).
    sizes = {t.name: len(t.raw_data) for t in normalized(copy).graph.initializer if t.data_type != onnx.TensorProto.STRING}
    expected = [name for name, size in sizes.items() if size > 0 and
                (layout == "external_all" or (layout == "external" and size >= 1024))]
    assert external == expected
    assert normalized(copy) == normalized(original)
    # ONNX Runtime cannot infer shapes from external shape tensors (Unsqueeze axes), so the
    # model with every tensor external is compared field by field only.
    if feeds is not None and layout != "external_all":
        for expected, actual in zip(run_ort(original, feeds), run_ort(copy, feeds)):
            np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("per_tensor_files", [False, True])
def test_loads_onnx_external_data(tmp_path, octet, per_tensor_files):
    """Models saved by onnx with external data (one file, or one file per tensor) load, and
    convert can embed the weights again."""
    model, feeds = fresh("encoder_opset17")
    folder = tmp_path / "ext"
    folder.mkdir()
    location = {} if per_tensor_files else {"location": "weights.bin"}
    onnx.save_model(model, str(folder / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=not per_tensor_files, size_threshold=64, **location)
    inspected = octet("inspect", folder / "model.onnx", "--json").stdout
    import json
    summary = json.loads(inspected)
    assert summary["externalData"], summary
    big = [t for t in fresh("encoder_opset17")[0].graph.initializer if len(t.raw_data) >= 64]
    assert sum(f["tensors"] for f in summary["externalData"]) == len(big)
    assert len(summary["externalData"]) == (len(big) if per_tensor_files else 1)
    embedded = tmp_path / "embedded.onnx"
    octet("convert", folder / "model.onnx", "-o", embedded)
    saved = onnx.load(str(embedded), load_external_data=False)
    assert not any(external_data_helper.uses_external_data(t) for t in saved.graph.initializer)
    for expected, actual in zip(run_ort(folder / "model.onnx", feeds), run_ort(embedded, feeds)):
        np.testing.assert_array_equal(actual, expected)


def test_inspect_matches_onnx(tmp_path, octet):
    """inspect --json reports what onnx itself reads from the file."""
    import json
    model, _ = fresh("if_outer_scope")
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    summary = json.loads(octet("inspect", path, "--json").stdout)
    assert summary["irVersion"] == model.ir_version
    assert [(o["domain"], o["version"]) for o in summary["opsets"]] == [(o.domain, o.version) for o in model.opset_import]
    assert [i["name"] for i in summary["inputs"]] == [i.name for i in model.graph.input]
    assert summary["inputs"][0]["shape"] == [2, 3]
    assert summary["inputs"][1]["dtype"] == "bool" and summary["inputs"][1]["shape"] == []
    assert summary["nodes"] == {"total": 4, "topLevel": 2, "inSubgraphs": 2, "subgraphs": 2,
                                "byOpType": {"Add": {"topLevel": 1, "inSubgraphs": 0},
                                             "If": {"topLevel": 1, "inSubgraphs": 0},
                                             "Mul": {"topLevel": 0, "inSubgraphs": 1},
                                             "Sub": {"topLevel": 0, "inSubgraphs": 1}}}
    assert summary["initializers"] == {"count": 1, "bytes": 12}


def test_inspect_legacy_inputs_hides_initializers(tmp_path, octet):
    import json
    model, _ = fresh("legacy_initializer_inputs")
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    summary = json.loads(octet("inspect", path, "--json").stdout)
    assert [i["name"] for i in summary["inputs"]] == ["data"]


def test_constant_node_weights_are_counted(tmp_path, octet):
    import json
    model, _ = fresh("cnn_opset11_constants")
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    summary = json.loads(octet("inspect", path, "--json").stdout)
    constants = [n for n in model.graph.node if n.op_type == "Constant"]
    assert summary["constantNodes"]["count"] == len(constants)
    assert summary["constantNodes"]["bytes"] == sum(numpy_helper.to_array(n.attribute[0].t).nbytes for n in constants)
    assert summary["initializers"]["count"] == 0
