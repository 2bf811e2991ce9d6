"""``dlcompress quantize`` on tiny image-input zoo entries beyond classifiers: a detector (batch-1 feeds, box
matching, post-processing kept in float), a segmenter (pixel agreement), a Siamese pair fed two different real
images, and a GAN generator (ConvTranspose: QOperator has no int8 form, QDQ is used instead)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
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
    report["out"] = out
    return report


def _outputs_on_eval_images(out, model: str, n: int) -> tuple[list[dict], list[dict]]:  # noqa: ANN001
    """The test's own run of both ONNX files on the run's evaluation images (the first ``n`` held-out images of
    the entry's default data, prepared as the spec declares), one image per feed: (fp32 outputs, int8 outputs)."""
    import onnxruntime as ort

    from dlcompress.toolkit.data import ImageTransform, load_dataset
    from dlcompress.zoo import MODELS

    spec = MODELS.get(model)
    c, h, w = spec.image_shape
    images = ImageTransform(c, (h, w), spec.preprocess.mean, spec.preprocess.std)(load_dataset(spec.card.default_data).test.batch(range(n)))
    results = []
    for name in ("model.onnx", "model.int8.onnx"):
        session = ort.InferenceSession(str(out / name), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        results.append([dict(zip(names, session.run(None, {spec.inputs[0].name: images[i:i + 1]}))) for i in range(n)])
    return results[0], results[1]


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
    assert int8["fidelity"]["reference_detections"] > 0
    # measured box F1 of int8 against fp32: 0.66 (7-bit weights) / 0.61 (8-bit); no boxes, boxes with other
    # labels or NaN boxes score 0. (The random-init detector's boxes hardly depend on the image: fp32 on one photo
    # against fp32 on another scores 0.6, so this floor catches a broken int8 model, not a subtly worse one.)
    assert int8["fidelity"]["box_f1"] > 0.3, int8["fidelity"]
    # the reported F1 is int8 against fp32 on these images: the test runs both files itself and re-scores them
    from dlcompress.toolkit.metrics import detection_fidelity

    ref, got = _outputs_on_eval_images(rep["out"], "fasterrcnn_resnet50_fpn_tiny", 4)
    mine = detection_fidelity(ref, got).extra
    assert mine["reference_detections"] == int8["fidelity"]["reference_detections"]
    assert abs(mine["box_f1"] - int8["fidelity"]["box_f1"]) <= 1 / mine["reference_detections"], (mine, int8["fidelity"])
    assert int8["size_bytes"] < 0.6 * fp32["size_bytes"]
    assert rep["ops"]["QLinearConv"] > 0 and rep["ops"]["NonMaxSuppression"] > 0
    q = rep["lineage"]["model.int8.onnx"][-1]["params"]
    assert q["op_types"] == ["Conv", "MatMul", "Gemm"] and "no shape inference" in q["preprocess"]
    assert "value_info" in q  # see quantize_onnx.DATA_DEPENDENT_OPS
    export = next(s for s in rep["lineage"]["model.onnx"] if s["stage"] == "export")
    assert export["params"]["route"] == "torchscript" and not export["effect"]["fallback_from"]


@pytest.mark.slow  # ~20 s here: a real-size torchvision segmenter through quantize
def test_segmenter_reports_pixel_agreement(cli, tmp_path):
    rep = _run(cli, tmp_path, "fcn_resnet50_tiny")
    fp32, int8 = rep["rows"]
    assert fp32["status"] == "validated" and fp32["fidelity"]["pixel_agreement"] == 1.0
    # pixel agreement computed here from both files' logits on the same four images, not read back from the report
    ref, got = _outputs_on_eval_images(rep["out"], "fcn_resnet50_tiny", 4)
    ref_classes = np.concatenate([o["logits"] for o in ref]).argmax(1)
    agreement = float(np.mean(ref_classes == np.concatenate([o["logits"] for o in got]).argmax(1)))
    assert int8["fidelity"]["pixel_agreement"] == pytest.approx(agreement, abs=1e-3)
    # better than answering fp32's most common class everywhere (measured: 0.73 / 0.72 with 7-bit / 8-bit
    # weights against 0.62 for that constant answer; fp32 on another photo agrees on 0.59)
    constant = np.bincount(ref_classes.ravel()).max() / ref_classes.size
    assert agreement > max(constant, 0.3), (agreement, constant)
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
