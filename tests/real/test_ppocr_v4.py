"""PP-OCRv4 det + rec, the ONNX files of the rapidocr-onnxruntime wheel, through dlcompress.quantize on rendered
real text: fp32 vs int8 per backend (docs/real-models.md, benchmarks/real_models/ppocr_v4.py)."""

from __future__ import annotations

import json

import pytest

from benchmarks.real_models import common, ppocr_v4

pytestmark = pytest.mark.slow


def test_ppocr_v4_int8_keeps_recognised_text_and_detected_lines(tmp_path):
    common.needs("rapidocr_onnxruntime", ppocr_v4.INSTALL)
    common.needs("gensim", ppocr_v4.INSTALL)
    rows = ppocr_v4.measure(tmp_path, quick=True)
    by = {(r.model, r.backend, r.method): r for r in rows}
    rec, det = ppocr_v4.REC_TITLE, ppocr_v4.DET_TITLE
    for backend in ("onnxruntime", "openvino"):
        r32, r8 = by[(rec, backend, "fp32")], by[(rec, backend, "int8 static")]
        assert r32.metric is not None and r32.metric < 0.03, r32  # fp32 reads the rendered lines
        assert r8.metric is not None and r8.metric - r32.metric < 0.08, (r32, r8)  # CER, lower is better
        assert float(r8.fidelity.split("same text as fp32 ")[1].split(",")[0]) >= 0.6, r8
        d32, d8 = by[(det, backend, "fp32")], by[(det, backend, "int8 static")]
        assert d32.metric is not None and d32.metric > 0.7, d32
        assert d8.metric is not None and d8.metric > d32.metric - 0.05, (d32, d8)
        assert float(d8.fidelity.split("text-mask IoU vs fp32 ")[1].split(",")[0]) > 0.8, d8
        for fp32, int8 in ((r32, r8), (d32, d8)):
            assert int8.size_mb < 0.4 * fp32.size_mb, (fp32, int8)
    # ORT cannot quantize the Constant-node weights of these Paddle2ONNX files as they are: dlcompress folds them
    for stem in ("ch_PP-OCRv4_rec_infer", "ch_PP-OCRv4_det_infer"):
        lineage = json.loads((tmp_path / f"{stem}-onnxruntime-static" / "lineage.json").read_text())
        quant = next(s for steps in lineage.values() for s in steps if s["stage"] == "quantize")
        assert "computed by Constant nodes folded into initializers" in quant["params"]["constant_weights"], quant
    assert all("LiteRT export takes a torch or Keras/TensorFlow model" in r.note for r in rows if r.backend == "litert")
