"""``dlcompress explain``: Grad-CAM, LIME and SHAP maps of small_cnn (trained on real Fashion-MNIST) and of its
variants, the drift between them, the gallery, and every bad input as one line with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("pytorch_grad_cam", reason="the [explain] extra")
pytest.importorskip("lime", reason="the [explain] extra")
pytest.importorskip("shap", reason="the [explain] extra")

FAST = ("--images", "3", "--samples", "120")


def summary(report: dict, method: str, model: str) -> dict:
    return next(s for s in report["summary"] if s["method"] == method and s["model"] == model)


def one_line_error(r, *fragments: str) -> str:
    lines = [ln for ln in r.err.strip().splitlines() if ln.strip()]
    assert r.code == 2 and len(lines) == 1 and "Traceback" not in r.err, (r.code, r.err)
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def explained(trained_small_cnn, tmp_path_factory) -> Path:
    """The issue's command (no --compare: the int8 ONNX Runtime variant is built), on the trained small_cnn."""
    from dlcompress.cli import main

    out = tmp_path_factory.mktemp("explain") / "out"
    code = main(["explain", "--model", "small_cnn", "--weights", str(trained_small_cnn), "--data", "fashion-mnist",
                 "--methods", "gradcam,lime,shap", *FAST, "--out", str(out)])
    assert code == 0
    return out


def test_default_explains_fp32_and_int8_with_a_gallery(explained):
    report = json.loads((explained / "report.json").read_text())
    assert report["models"] == {"fp32 torch": "torch", "int8 onnxruntime": "onnx"}
    pngs = sorted((explained / "gallery").glob("*.png"))
    assert len(pngs) >= 3 and all(p.stat().st_size > 5_000 for p in pngs)
    page = (explained / "gallery.html").read_text()
    assert all(f"gallery/{p.name}" in page for p in pngs) and "Spearman" in page
    assert "LIME" in (explained / "report.md").read_text()
    for method in ("lime", "shap"):
        s = summary(report, method, "int8 onnxruntime")
        assert s["status"] == "ok" and s["images"] == 3, s
        assert 0.5 <= s["spearman"] <= 1.0 and 0 < s["top_k_iou"] <= 1.0, s  # int8 keeps the explanation
        assert 0 <= s["deletion_auc"] <= 1 and 0 <= s["insertion_auc"] <= 1 and "deletion_auc_delta" in s, s
        ref = summary(report, method, "fp32 torch")
        assert ref["deletion_auc"] < ref["insertion_auc"], ref  # faithful maps: deleting their top pixels hurts
    gradcam = summary(report, "gradcam", "fp32 torch")
    assert gradcam["status"] == "ok" and gradcam["deletion_auc"] < gradcam["insertion_auc"], gradcam
    not_run = summary(report, "gradcam", "int8 onnxruntime")
    assert not_run["status"] == "not-run" and "needs a torch model with gradients" in not_run["reason"], not_run
    cell = report["images"][0]["cells"]["lime"]["int8 onnxruntime"]
    assert cell["status"] == "ok" and {"spearman", "top_k_iou", "deletion_auc", "insertion_auc"} <= set(cell)


def test_permuted_weights_drift_far_more_than_int8(cli, trained_small_cnn, tmp_path):
    """The drift metric can fail: the same network with each weight tensor's entries shuffled explains the class
    with other pixels, while int8 keeps fp32's maps."""
    checkpoint = torch.load(trained_small_cnn, weights_only=False)
    state = dict(checkpoint["state_dict"])
    g = torch.Generator().manual_seed(0)
    for k, v in state.items():
        if k.endswith("weight") and v.ndim > 1:
            state[k] = v.flatten()[torch.randperm(v.numel(), generator=g)].reshape(v.shape)
    permuted = tmp_path / "permuted.pt"
    torch.save({"state_dict": state}, permuted)
    r = cli("explain", "--model", "small_cnn", "--weights", trained_small_cnn, "--data", "fashion-mnist",
            "--compare", permuted, "--int8", *FAST, "--out", tmp_path / "out", "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    for method in ("lime", "shap"):
        int8, perm = summary(report, method, "int8 onnxruntime"), summary(report, method, "permuted.pt")
        assert int8["spearman"] >= 0.6 and perm["spearman"] <= 0.4, (int8, perm)
        assert int8["spearman"] - perm["spearman"] >= 0.4 and int8["top_k_iou"] > perm["top_k_iou"], (int8, perm)
    gradcam = summary(report, "gradcam", "permuted.pt")  # a torch variant: Grad-CAM runs on it
    assert gradcam["status"] == "ok" and gradcam["spearman"] <= 0.5, gradcam


def test_unknown_method_is_one_line(cli, tmp_path):
    one_line_error(cli("explain", "--methods", "gradcam,limes", "--out", tmp_path / "o"),
                   "unknown attribution method 'limes'", "did you mean lime")
    assert not (tmp_path / "o").exists()


def test_gradcam_on_exported_files_only_is_one_line(cli, explained, tmp_path):
    int8 = explained / "model.int8.onnx"
    one_line_error(cli("explain", "--model", "small_cnn", "--compare", int8, "--methods", "gradcam",
                       "--out", tmp_path / "o"), "Grad-CAM needs a torch model with gradients", "lime")
    one_line_error(cli("explain", "--model", int8, "--methods", "gradcam,lime", "--out", tmp_path / "o"),
                   "Grad-CAM needs a torch model with gradients", "ONNX")
    assert not (tmp_path / "o").exists()


def test_lime_and_shap_explain_an_onnx_file_through_its_runtime(cli, explained, trained_small_cnn, tmp_path):
    """The ONNX file as the user passes it: --compare runs it with ONNX Runtime; Grad-CAM's cell says why not."""
    r = cli("explain", "--model", "small_cnn", "--weights", trained_small_cnn, "--data", "fashion-mnist",
            "--compare", explained / "model.onnx", "--images", "2", "--samples", "60", "--out", tmp_path / "o", "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["models"]["model.onnx"] == "onnx"
    for method in ("lime", "shap"):  # the same network: the same maps up to float rounding
        assert summary(report, method, "model.onnx")["spearman"] >= 0.95
    assert summary(report, "gradcam", "model.onnx")["status"] == "not-run"


def test_gradcam_without_a_convolution_is_one_line(cli, tmp_path):
    net = tmp_path / "mlp.py"
    net.write_text("from torch import nn\n\n\ndef build():\n    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))\n")
    one_line_error(cli("explain", "--model", f"{net}:build", "--input-shape", "1,1,28,28", "--data", "fashion-mnist",
                       "--methods", "gradcam", "--out", tmp_path / "o"),
                   "Grad-CAM needs a convolution layer", "--methods lime,shap")


def test_missing_compare_file_is_one_line(cli, tmp_path):
    one_line_error(cli("explain", "--compare", tmp_path / "nope.tflite", "--out", tmp_path / "o"), "no such file")


def test_the_python_api_takes_the_same_job(explained, trained_small_cnn, tmp_path):
    import dlcompress

    result = dlcompress.explain("small_cnn", weights=str(trained_small_cnn), data="fashion-mnist",
                                compare=[str(explained / "model.onnx")], methods="lime", images=2, samples=60,
                                out=tmp_path / "api")
    assert result.out_dir == tmp_path / "api" and (result.out_dir / "gallery.html").exists()
    assert result.report["models"]["model.onnx"] == "onnx"
    assert summary(result.report, "lime", "model.onnx")["spearman"] >= 0.95
    assert {row["method"] for row in result.report["summary"]} == {"lime"}


@pytest.mark.slow  # two exports and LIME/SHAP through two more runtimes
@pytest.mark.openvino
@pytest.mark.litert
def test_openvino_and_litert_files_are_explained_through_their_runtimes(cli, trained_small_cnn, tmp_path):
    """--compare with an OpenVINO IR and a LiteRT flatbuffer of the same network: each runs in its own runtime
    and its LIME and SHAP maps match fp32's (the same weights, up to float rounding)."""
    files = {"openvino": tmp_path / "m.xml", "litert": tmp_path / "m.tflite"}
    for fmt, path in files.items():
        r = cli("export", "--model", "small_cnn", "--weights", trained_small_cnn, "--data", "fashion-mnist",
                "--format", fmt, "--out", path)
        assert r.code == 0, r.err
    r = cli("explain", "--model", "small_cnn", "--weights", trained_small_cnn, "--data", "fashion-mnist",
            "--compare", files["openvino"], "--compare", files["litert"], "--methods", "lime,shap",
            "--images", "2", "--samples", "60", "--out", tmp_path / "o", "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["models"]["m.xml"] == "openvino" and report["models"]["m.tflite"] == "litert"
    for name in ("m.xml", "m.tflite"):
        for method in ("lime", "shap"):
            assert summary(report, method, name)["spearman"] >= 0.95, (name, method, summary(report, method, name))
