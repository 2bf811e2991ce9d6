"""MTCNN's ONet (facenet-pytorch's pretrained onet.pt) brought as a Python factory: int8 per backend keeps the
face / non-face accuracy on scikit-image's LFW subset and the face probability close to fp32's."""

from __future__ import annotations

import pytest

from benchmarks.real_models import common, mtcnn_onet

pytestmark = pytest.mark.slow


def test_onet_int8_keeps_face_accuracy_on_lfw(tmp_path):
    common.needs("facenet_pytorch", mtcnn_onet.INSTALL)
    rows = mtcnn_onet.measure(tmp_path, quick=True)
    by = {(r.backend, r.method): r for r in rows}
    assert set(by) == {(b, m) for b in mtcnn_onet.QUICK for m in ("fp32", "int8 static")}, list(by)
    for backend in mtcnn_onet.QUICK:
        fp32, int8 = by[backend, "fp32"], by[backend, "int8 static"]
        assert fp32.metric >= 0.97, fp32  # measured 1.000: every face above 0.97, every non-face below 0.3
        assert int8.drop(fp32) <= 0.03, (int8, fp32)
        assert common.fidelity_value(int8, "P(face) max diff") <= 0.25, int8
        assert common.fidelity_value(int8, "cosine") >= 0.95, int8
        assert int8.size_mb < 0.35 * fp32.size_mb, (int8, fp32)
