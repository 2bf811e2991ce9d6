"""``dlcompress quantize`` on non-image tiny entries: calibration and evaluation data from each entry's own data
source, the model's default quantization method, and the task metric where the data has labels."""

from __future__ import annotations

import json

import pytest

from dlcompress.toolkit.stages.quantize import QuantizeOptions, resolve_method
from dlcompress.zoo import MODELS

CASES = [
    # model, data source, method chosen by default, task metric (None: no labels, fidelity only)
    ("bert_tiny", "text-topics", "dynamic", "top1"),
    ("ctc_asr_tiny", "spoken-digits", "dynamic", "sequence_accuracy"),
    ("gcn_tiny", "karate-club", "static", "node_accuracy"),
    ("alphago_zero_tiny", "go-positions", "static", None),
]


@pytest.mark.parametrize("model,data,method,metric", CASES, ids=[c[0] for c in CASES])
def test_quantize_uses_the_entrys_own_data(cli, tmp_path, monkeypatch, model, data, method, metric):
    if data == "spoken-digits" and not __import__("shutil").which("espeak-ng"):
        pytest.skip("espeak-ng is not installed (apt-get install -y espeak-ng)")
    out = tmp_path / "out"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    r = cli("quantize", "--model", model, "--bench-seconds", "2", "--eval-samples", "16", "--out", out, "--json")
    assert r.code == 0, r.err
    assert not list(cwd.iterdir())  # ORT's failed symbolic shape inference dumps files into the working dir
    report = json.loads(r.out)
    assert report["data"]["name"] == data and report["data"]["provenance"]
    fp32, int8 = report["rows"]
    assert fp32["status"] == "validated" and int8["precision"] == "int8"
    assert int8["size_bytes"] < fp32["size_bytes"]
    assert 0.9 < int8["fidelity"]["cosine"] <= 1.0 + 1e-9 and int8["fidelity"]["top1_agreement"] is not None
    if metric is None:
        assert fp32["metric"] is None and report["data"]["metric"] is None
    else:
        assert fp32["metric"]["name"] == int8["metric"]["name"] == metric
        assert int8["metric"]["samples"] == fp32["metric"]["samples"]
        # int8 scores what fp32 scores on the same samples, give or take one of the 16 (measured: equal for all
        # three entries, with 7-bit and 8-bit weights alike; the random-init entries score near chance, so this is
        # a check of int8 against fp32, not of the models)
        delta = abs(int8["metric"]["value"] - fp32["metric"]["value"])
        assert delta <= 1 / 16 + 1e-9, (fp32["metric"], int8["metric"])
        if metric == "top1":  # accuracies of two predictors differ at most where their predictions differ
            assert delta <= 1 - int8["fidelity"]["top1_agreement"] + 1e-6, (delta, int8["fidelity"])
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["model.int8.onnx"][-1]["params"]["method"] == method


def test_data_that_does_not_fit_the_model_is_a_clear_error(cli, tmp_path):
    r = cli("quantize", "--model", "bert_tiny", "--data", "karate-club", "--out", tmp_path / "o")
    assert r.code == 2 and "karate-club" in r.err and "bert_tiny" in r.err and "Traceback" not in r.err


def test_auto_method_follows_the_model():
    auto = QuantizeOptions(method="auto")
    assert resolve_method(auto, MODELS.get("bert"), "onnx").method == "dynamic"
    assert resolve_method(auto, MODELS.get("ctc_asr"), "onnx").method == "dynamic"
    assert resolve_method(auto, MODELS.get("dqn"), "onnx").method == "static"
    assert resolve_method(auto, None, "onnx").method == "static"
    assert resolve_method(QuantizeOptions(method="static"), MODELS.get("bert"), "onnx").method == "static"
