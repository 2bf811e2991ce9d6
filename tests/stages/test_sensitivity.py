"""``dlcompress sensitivity``: the per-layer int8 table finds the layer that int8 ruins, on real photos."""

from __future__ import annotations

import json
from pathlib import Path

OUTLIER_NET = str(Path(__file__).parents[1] / "data" / "outlier_net.py") + ":build"


def test_sensitivity_finds_the_layer_int8_ruins(cli, tmp_path):
    """outlier_net's ``spiky`` conv has one channel 10^4 larger than the rest: quantizing the input of the conv
    after it (per-tensor int8) zeroes the others. Keeping that one conv in float must recover everything; making
    it the only int8 layer must do all the damage; every other layer must be harmless on its own."""
    out = tmp_path / "sens"
    r = cli("sensitivity", "--model", OUTLIER_NET, "--input-shape", "1,3,32,32", "--calib-samples", "16",
            "--out", out, "--json")
    assert r.code == 0, r.err
    result = json.loads(r.out)
    assert result["score"] == "top1 agreement" and result["float"] == 1.0 and result["int8_drop"] >= 0.5, result
    layers = result["layers"]
    assert [layer["op_type"] for layer in layers].count("Conv") == 3 and len(layers) == 4
    worst = layers[0]
    import onnx

    convs = [n.name for n in onnx.load(str(out / "model.onnx")).graph.node if n.op_type == "Conv"]
    assert worst["node"] == convs[2], (worst, convs)  # the conv that consumes the outlier tensor
    assert worst["module"] == "3", worst  # named by its torch module (net[3]), as the table shows it
    assert "| `3` | Conv |" in (out / "sensitivity.md").read_text()
    assert worst["drop_kept_float"] <= 0.05 and worst["drop_only_int8"] >= 0.5, worst
    for layer in layers[1:]:
        assert layer["drop_only_int8"] <= 0.05 and layer["drop_kept_float"] >= 0.5, layer
    assert worst["activation_sqnr_db"] < 10 and min(
        la["range_min"] for la in layers if la["range_min"] is not None) < -1000  # the outlier shows in the ranges
    assert {p.name for p in out.iterdir()} >= {"sensitivity.json", "sensitivity.md", "sensitivity.png", "model.onnx"}
    assert (out / "sensitivity.png").stat().st_size > 10_000


def test_sqnr_only_skips_the_per_layer_runs(cli, tmp_path):
    r = cli("sensitivity", "--model", OUTLIER_NET, "--input-shape", "1,3,32,32", "--calib-samples", "8",
            "--sqnr-only", "--out", tmp_path / "s", "--json")
    assert r.code == 0, r.err
    layers = json.loads(r.out)["layers"]
    assert all(la["drop_kept_float"] is None and la["activation_sqnr_db"] is not None for la in layers)


def test_bad_input_is_one_line(cli, tmp_path):
    r = cli("sensitivity", "--model", "no_such_model", "--out", tmp_path / "s")
    assert r.code == 2 and "Traceback" not in r.err and not (tmp_path / "s").exists()
