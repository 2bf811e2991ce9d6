"""``quantize --backend auto``: every installed host backend built, validated and timed in one run; the fastest
file that passes the fidelity gate is delivered, and the report names the alternatives."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_user_data_cli import assert_one_line_error


@pytest.mark.slow  # two exports, two calibrations and four variants timed: about 30 s
@pytest.mark.openvino
def test_auto_builds_both_backends_and_delivers_the_fastest_that_passes(cli, trained_small_cnn, tmp_path):
    out = tmp_path / "q"
    r = cli("quantize", "--model", "small_cnn", "--weights", trained_small_cnn, "--data", "fashion-mnist",
            "--backend", "auto", "--eval-samples", "1000", "--bench-seconds", "3", "--out", out, "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    rows = {row["variant"]: row for row in report["rows"]}
    assert list(rows) == ["onnxruntime fp32", "onnxruntime int8", "openvino fp32", "openvino int8"]
    assert [row["runtime"] for row in rows.values()] == ["onnxruntime", "onnxruntime", "openvino", "openvino"]
    for name in ("onnxruntime int8", "openvino int8"):  # each int8 scored against the same fp32 reference
        assert abs(rows[name]["metric"]["value"] - rows["onnxruntime fp32"]["metric"]["value"]) <= 0.01
    delivered = report["delivered"]
    passing = [a for a in delivered["alternatives"] if a["gate"] == "passed"]
    fastest = min(passing, key=lambda a: a["p50_ms"])
    assert delivered["variant"] == fastest["variant"] and delivered["file"] == rows[fastest["variant"]]["path"]
    assert "--backend auto" in delivered["reason"] and len(delivered["alternatives"]) == 4
    assert {"model.onnx", "model.int8.onnx", "model.xml", "model.int8.xml"} <= {p.name for p in out.iterdir()}
    text = (out / "report.md").read_text()
    assert f"`{delivered['file']}`" in text


def test_auto_with_an_option_no_candidate_has_is_one_line(cli, tmp_path):
    out = tmp_path / "q"
    assert_one_line_error(cli("quantize", "--model", "small_cnn", "--backend", "auto", "--int8-io", "--out", out),
                          out, "--backend auto found no backend that can do this job", "onnxruntime:", "openvino:")


def test_auto_cannot_be_saved_as_a_recipe(cli, tmp_path):
    out, recipe = tmp_path / "q", tmp_path / "r.yaml"
    assert_one_line_error(cli("quantize", "--model", "small_cnn", "--backend", "auto", "--save-recipe", recipe,
                              "--out", out), out, "--save-recipe cannot write --backend auto")
    assert not recipe.exists()
