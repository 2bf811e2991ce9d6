"""``dlcompress quantize`` on tiny image-input zoo entries beyond classifiers: a detector (batch-1 feeds, box
matching, post-processing kept in float), a segmenter (pixel agreement), a Siamese pair fed two different real
images, and a GAN generator (ConvTranspose: QOperator has no int8 form, QDQ is used instead)."""

from __future__ import annotations

import json
from collections import Counter

import onnx
import pytest

QUICK = ("--bench-seconds", "1", "--eval-samples", "4", "--calib-samples", "4", "--json")


def _run(cli, tmp_path, model: str, *extra: str) -> dict:  # noqa: ANN001
    out = tmp_path / model
    r = cli("quantize", "--model", model, *QUICK, "--out", out, *extra)
    assert r.code == 0, r.err
    report = json.loads(r.out)
    report["lineage"] = json.loads((out / "lineage.json").read_text())
    report["ops"] = _op_counts(onnx.load(str(out / "model.int8.onnx")).graph)
    return report


def _op_counts(graph) -> Counter:  # noqa: ANN001
    """Op types in a graph and its subgraphs (torchvision's NMS sits inside If branches)."""
    counts = Counter(n.op_type for n in graph.node)
    for n in graph.node:
        for a in n.attribute:
            for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                counts += _op_counts(g)
    return counts


def test_detector_quantizes_backbone_and_keeps_nms_in_float(cli, tmp_path):
    rep = _run(cli, tmp_path, "fasterrcnn_resnet50_fpn_tiny")
    fp32, int8 = rep["rows"]
    assert fp32["status"] == "validated" and rep["data"]["name"] == "photos"
    assert fp32["fidelity"]["samples"] == 4 and fp32["fidelity"]["box_f1"] == 1.0  # one image per feed
    assert int8["fidelity"]["reference_detections"] > 0 and 0 <= int8["fidelity"]["box_f1"] <= 1
    assert int8["size_bytes"] < 0.6 * fp32["size_bytes"]
    assert rep["ops"]["QLinearConv"] > 0 and rep["ops"]["NonMaxSuppression"] > 0
    q = rep["lineage"]["model.int8.onnx"][-1]["params"]
    assert q["op_types"] == ["Conv", "MatMul", "Gemm"] and "no shape inference" in q["preprocess"]
    assert "value_info" in q  # see quantize_onnx.DATA_DEPENDENT_OPS
    export = next(s for s in rep["lineage"]["model.onnx"] if s["stage"] == "export")
    assert export["params"]["route"] == "torchscript" and not export["effect"]["fallback_from"]


def test_segmenter_reports_pixel_agreement(cli, tmp_path):
    rep = _run(cli, tmp_path, "fcn_resnet50_tiny")
    fp32, int8 = rep["rows"]
    assert fp32["status"] == "validated" and fp32["fidelity"]["pixel_agreement"] == 1.0
    assert int8["fidelity"]["top1_agreement"] == int8["fidelity"]["pixel_agreement"] > 0.3
    assert rep["ops"]["QLinearConv"] > 0


def test_siamese_pair_is_fed_two_different_real_images(cli, tmp_path):
    rep = _run(cli, tmp_path, "siamese_net_tiny")
    fp32, int8 = rep["rows"]
    assert rep["data"]["name"] == "fashion-mnist" and fp32["status"] == "validated"
    assert int8["fidelity"]["cosine"] > 0.99 and rep["ops"]["QLinearConv"] > 0


def test_gan_generator_falls_back_to_qdq(cli, tmp_path):
    rep = _run(cli, tmp_path, "dcgan_generator_tiny")
    fp32, int8 = rep["rows"]
    q = rep["lineage"]["model.int8.onnx"][-1]["params"]
    assert q["quant_format"] == "qdq" and "ConvTranspose" in q["fallback"]
    assert int8["size_bytes"] < 0.7 * fp32["size_bytes"] and int8["fidelity"]["cosine"] > 0.99


@pytest.mark.parametrize("model", ["pix2pix_discriminator_tiny", "maml_convnet4_tiny"])
def test_other_image_entries_quantize(cli, tmp_path, model):
    rep = _run(cli, tmp_path, model)
    fp32, int8 = rep["rows"]
    assert fp32["status"] == "validated" and int8["status"] == "quantized"
    assert int8["fidelity"]["cosine"] > 0.9 and rep["ops"]["QLinearConv"] > 0
