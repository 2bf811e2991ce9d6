"""The mobile bundle's manifest on an ONNX file (symbolic dims kept), and a torch model is refused in one line."""

from __future__ import annotations

import json

import pytest

from dlcompress.exporters.bundle import (
    image_preprocess,
    manifest,
    snippet,
    write_bundle,
)
from dlcompress.toolkit.artifact import Artifact, Format
from dlcompress.toolkit.data import ImageTransform
from dlcompress.toolkit.errors import UnsupportedError
from dlcompress.toolkit.spec import ModelSpec, TensorSpec


def _spec() -> ModelSpec:
    return ModelSpec("conv", "image-classification", lambda: None, (TensorSpec("x", ("batch", 3, 8, 8)),),
                     (TensorSpec("y", ("batch", 4, 6, 6)),))


def test_onnx_manifest_and_python_snippet(tmp_path):
    from tests.unit.test_calibration import _conv_onnx

    path = tmp_path / "m.onnx"
    _conv_onnx(path, "batch")
    art = Artifact(Format.ONNX, _spec(), path=path)
    m = manifest(art, image_preprocess(ImageTransform(3, (8, 8), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))), ("a", "b", "c", "d"))
    assert m["inputs"] == [{"name": "x", "shape": ["batch", 3, 8, 8], "dtype": "float32", "scale": None, "zero_point": None}]
    assert m["outputs"][0]["shape"] == ["batch", 4, 6, 6] and m["preprocess"]["mean"] == [0.5, 0.5, 0.5]
    language, name, code = snippet(m)
    assert (language, name) == ("Python", "run.py") and "np.zeros([1, 3, 8, 8], dtype=np.float32)" in code
    assert "(x - mean) / std with mean=[0.5, 0.5, 0.5]" in code
    manifest_path, code_path = write_bundle(art, tmp_path / "out")
    assert json.loads(manifest_path.read_text())["snippet"] == "snippets/run.py" and code_path.exists()


def test_a_torch_model_has_no_bundle():
    with pytest.raises(UnsupportedError, match="a bundle describes an exported model file"):
        manifest(Artifact(Format.TORCH, _spec(), model=object()), None)
