"""``bench`` checks every name it is given before it builds anything."""

from __future__ import annotations


def test_an_unknown_model_among_several_fails_before_the_first_is_built(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("DLCOMPRESS_QUIET", raising=False)  # progress on: a built model would say "exporting"
    r = cli("bench", "--model", "small_cnn,resnet5", "--backends", "onnxruntime", "--out", tmp_path / "b")
    assert r.code == 2
    assert "unknown model 'resnet5'" in r.err and "did you mean" in r.err
    assert "exporting" not in r.err and "evaluating" not in r.err
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_precision_is_refused_with_the_closest_name(cli, tmp_path):
    r = cli("bench", "--model", "small_cnn", "--precisions", "fp32,in8", "--out", tmp_path / "b")
    assert r.code == 2 and "unknown precision 'in8' (did you mean 'int8'?)" in r.err
    assert list(tmp_path.iterdir()) == []
