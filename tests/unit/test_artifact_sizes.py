"""An artifact's size counts its own files only: ONNX external data beside .onnx, weights .bin beside .xml."""

from __future__ import annotations

from dlcompress.toolkit.artifact import Artifact, Format, sibling_files


def _write(folder, name: str, size: int):  # noqa: ANN001, ANN202
    path = folder / name
    path.write_bytes(b"\0" * size)
    return path


def test_each_format_counts_only_the_files_that_belong_to_it(tmp_path):
    from dlcompress.zoo import MODELS

    spec = MODELS.get("small_cnn")
    xml = _write(tmp_path, "model.xml", 10)
    _write(tmp_path, "model.bin", 1000)
    onnx = _write(tmp_path, "model.onnx", 20)
    _write(tmp_path, "model.onnx.data", 300)
    tflite = _write(tmp_path, "model.tflite", 40)
    assert Artifact(Format.OPENVINO, spec, path=xml).size_bytes == 1010
    assert Artifact(Format.ONNX, spec, path=onnx).size_bytes == 320
    assert Artifact(Format.LITERT, spec, path=tflite).size_bytes == 40  # model.bin beside it is OpenVINO's
    assert sibling_files(tflite) == []
