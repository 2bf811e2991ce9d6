"""``quantize`` and ``bench`` score a variant through the same path: the same int8 model on the same held-out
data gets the same task metric and the same fidelity in both reports."""

from __future__ import annotations

import json

import pytest


def _rows(path):  # noqa: ANN001, ANN202
    return json.loads(path.read_text())["rows"]


def test_quantize_and_bench_report_the_same_metric_and_fidelity(cli, tmp_path, trained_small_cnn):
    common = ["--model", "small_cnn", "--weights", str(trained_small_cnn), "--data", "fashion-mnist",
              "--calib-samples", "32", "--eval-samples", "200", "--bench-seconds", "1", "--threads", "1"]
    q = cli("quantize", *common, "--out", tmp_path / "q")
    assert q.code == 0, q.err
    b = cli("bench", *common, "--backends", "onnxruntime", "--precisions", "fp32,int8", "--out", tmp_path / "b")
    assert b.code == 0, b.err
    q_int8 = next(r for r in _rows(tmp_path / "q" / "report.json") if r["precision"] == "int8")
    b_int8 = next(r for r in _rows(tmp_path / "b" / "report.json") if r["precision"] == "int8" and r["status"] != "skipped")
    assert q_int8["metric"]["name"] == b_int8["metric"]["name"] == "top1"
    assert q_int8["metric"]["samples"] == b_int8["metric"]["samples"] == 200
    assert q_int8["metric"]["value"] == pytest.approx(b_int8["metric"]["value"], abs=1e-9)
    assert q_int8["metric_delta"] == pytest.approx(b_int8["metric_delta"], abs=1e-9)
    assert set(q_int8["fidelity"]) == set(b_int8["fidelity"])
    for key, value in q_int8["fidelity"].items():
        assert b_int8["fidelity"][key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
