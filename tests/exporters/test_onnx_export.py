import onnx
import pytest
import torch

from dlcompress.exporters import EXPORTERS, ExportOptions
from dlcompress.exporters.validate import validate_outputs
from dlcompress.recipes.loading import load_model
from dlcompress.toolkit.runtimes import open_runtime


@pytest.mark.parametrize("route", ["dynamo", "torchscript"])
def test_export_validates_with_dynamic_batch(tmp_path, route):
    art = load_model("small_cnn")
    onnx_art = EXPORTERS.get("onnx").export(art, tmp_path / "m.onnx", ExportOptions(route=route))
    assert onnx_art.lineage[-1].params["route"] == route and onnx_art.path.exists()
    model = onnx.load(str(onnx_art.path))
    assert [o.name for o in model.graph.output] == ["logits"]
    feeds = [art.spec.example_inputs(b, seed=b) for b in (1, 3)]
    result = validate_outputs(open_runtime(art), open_runtime(onnx_art), feeds, art.spec.tolerance.atol, art.spec.tolerance.rtol)
    assert result.passed, result.problems
    assert result.max_abs_diff < 1e-4


def test_validation_catches_wrong_values(tmp_path):
    art = load_model("small_cnn")
    onnx_art = EXPORTERS.get("onnx").export(art, tmp_path / "m.onnx", ExportOptions(route="torchscript"))
    with torch.no_grad():
        art.model.classifier.bias += 1.0  # the reference no longer matches the file
    result = validate_outputs(open_runtime(art), open_runtime(onnx_art), [art.spec.example_inputs(2)], 1e-4, 1e-3)
    assert not result.passed
    assert "logits" in result.problems[0] and "max abs diff" in result.problems[0]
    assert result.max_abs_diff == pytest.approx(1.0, abs=1e-3)


def test_export_failure_is_one_clear_error(tmp_path):
    from dlcompress.toolkit.errors import ExportError

    class Bad(torch.nn.Module):
        def forward(self, x):
            return torch.linalg.svd(x)[1].flatten(1)  # no ONNX conversion in either exporter

    art = load_model("small_cnn")
    import dataclasses

    bad = dataclasses.replace(art, model=Bad())
    with pytest.raises(ExportError, match="dynamo: .*torchscript: .*linalg_svd") as info:
        EXPORTERS.get("onnx").export(bad, tmp_path / "bad.onnx", ExportOptions())
    assert "\x1b[" not in str(info.value)  # no terminal colour codes in messages
    assert not (tmp_path / "bad.onnx").exists()
