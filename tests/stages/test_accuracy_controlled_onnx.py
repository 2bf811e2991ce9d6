"""``--max-drop`` with ONNX Runtime: plain int8 when it is within the limit, else the fewest layers kept in float
(ranked by per-layer sensitivity) until the held-out drop holds — with labels (top-1) or without (agreement)."""

from __future__ import annotations

import json
from pathlib import Path

import onnx

OUTLIER_NET = str(Path(__file__).parents[1] / "data" / "outlier_net.py") + ":build"


def _quantize_record(out: Path) -> dict:
    return json.loads((out / "lineage.json").read_text())["model.int8.onnx"][-1]


def test_without_labels_the_one_ruinous_layer_stays_float(cli, tmp_path):
    """outlier_net on real photos (no labels): plain int8 changes every prediction; keeping the conv that
    consumes the outlier tensor in float (and only it) brings agreement back, on held-out and evaluation data."""
    out = tmp_path / "aaq"
    r = cli("quantize", "--model", OUTLIER_NET, "--input-shape", "1,3,32,32", "--max-drop", "0.02",
            "--calib-samples", "16", "--bench-seconds", "1", "--out", out, "--json")
    assert r.code == 0, r.err
    rec = _quantize_record(out)
    convs = [n.name for n in onnx.load(str(out / "model.onnx")).graph.node if n.op_type == "Conv"]
    assert rec["params"]["mode"] == "accuracy-controlled" and rec["params"]["score"] == "top1 agreement"
    assert rec["params"]["tried"][0]["drop"] >= 0.5  # plain int8 is ruined ...
    assert rec["params"]["float_layers"] == [convs[2]]  # ... and one layer in float is enough
    assert rec["effect"]["within_max_drop"] and rec["effect"]["held_out_drop"] <= 0.02
    int8 = onnx.load(str(out / "model.int8.onnx")).graph.node
    assert sum(n.op_type == "QLinearConv" for n in int8) == 2 and sum(n.op_type == "Conv" for n in int8) == 1
    report = json.loads(r.out)
    assert report["rows"][1]["fidelity"]["top1_agreement"] >= 0.95  # on the evaluation set, not the held-out one
    assert any("kept in float" in n for n in report["notes"])


def test_with_labels_plain_int8_within_the_limit_keeps_everything_int8(cli, tmp_path, trained_small_cnn):
    out = tmp_path / "lab"
    r = cli("quantize", "--model", "small_cnn", "--weights", trained_small_cnn, "--data", "fashion-mnist",
            "--max-drop", "0.03", "--calib-samples", "32", "--eval-samples", "200", "--bench-seconds", "1",
            "--out", out)
    assert r.code == 0, r.err
    rec = _quantize_record(out)
    assert rec["params"]["score"] == "top1" and rec["params"]["float_layers"] == []
    assert rec["effect"]["within_max_drop"] and abs(rec["effect"]["held_out_drop"]) <= 0.03
