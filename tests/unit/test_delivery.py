"""The delivery rule: a quantized model slower than its fp32 export is not what the job delivers."""

from __future__ import annotations

import pytest

from dlcompress.benchmarks.delivery import choose_delivery, choose_fastest, gate
from dlcompress.benchmarks.report import Row, delivery_line


def _row(variant: str, precision: str, p50: float, path: str, size: int, fmt: str = "onnx") -> Row:
    return Row(variant=variant, format=fmt, precision=precision, runtime="onnxruntime", path=path, size_bytes=size,
               latency={"p50_ms": p50})


FP32 = _row("fp32", "fp32", 10.0, "model.onnx", 40_000_000)


def test_a_faster_int8_is_delivered():
    got = choose_delivery([FP32, _row("int8", "int8", 5.0, "model.int8.onnx", 10_000_000)])
    assert (got["file"], got["precision"], got["speedup"]) == ("model.int8.onnx", "int8", 2.0)
    assert "2.00x the speed of fp32" in got["reason"]


def test_a_slower_int8_is_not_delivered_and_the_reason_says_so():
    got = choose_delivery([FP32, _row("int8", "int8", 12.5, "model.int8.onnx", 10_000_000)])
    assert (got["file"], got["variant"]) == ("model.onnx", "fp32")
    assert "0.80x the speed of fp32" in got["reason"] and "model.int8.onnx stays in the folder" in got["reason"]
    assert delivery_line(got).startswith("deliver model.onnx (fp32, fp32): int8 runs 0.80x")


def test_deliver_quantized_keeps_the_slower_int8_and_says_it_is_slower():
    got = choose_delivery([FP32, _row("int8", "int8", 12.5, "model.int8.onnx", 10_000_000)], prefer="quantized")
    assert got["file"] == "model.int8.onnx" and got["speedup"] == 0.8 and "although it runs 0.80x" in got["reason"]


def test_weight_only_is_delivered_for_its_size():
    got = choose_delivery([FP32, _row("int4", "int4", 11.0, "model.int4.onnx", 8_000_000)], weight_only=True)
    assert got["file"] == "model.int4.onnx" and "for its size (8.0 MB vs 40.0 MB)" in got["reason"]


def test_torch_snapshots_and_failed_rows_are_not_candidates():
    torch_row = _row("original", "fp32", 1.0, "model.original.pt", 1, fmt="torch")
    failed = _row("int8", "int8", 1.0, "model.int8.onnx", 1)
    failed.status = "failed"
    got = choose_delivery([torch_row, FP32, failed])
    assert got["file"] == "model.onnx" and got["reason"] == "the only measured export"
    assert choose_delivery([torch_row]) == {}


def test_an_unknown_choice_is_refused():
    with pytest.raises(ValueError, match="deliver must be one of"):
        choose_delivery([FP32], prefer="smallest")


def _scored(variant: str, runtime: str, precision: str, p50: float, agreement: float | None = None,
            delta: float | None = None, fmt: str = "onnx") -> Row:
    row = _row(variant, precision, p50, f"model.{variant}.{fmt}", 10_000_000, fmt)
    row.runtime = runtime
    row.fidelity = {"top1_agreement": agreement, "cosine": 0.999}
    if delta is not None:
        row.metric, row.metric_delta = {"name": "top1", "value": 0.9 + delta}, delta
    return row


AUTO_ROWS = [_scored("onnxruntime fp32", "onnxruntime", "fp32", 10.0, 1.0),
             _scored("onnxruntime int8", "onnxruntime", "int8", 6.0, 0.97),
             _scored("openvino fp32", "openvino", "fp32", 8.0, 1.0, fmt="xml"),
             _scored("openvino int8", "openvino", "int8", 4.0, 0.95, fmt="xml")]


def test_auto_delivers_the_fastest_that_passes_and_names_the_alternatives():
    got = choose_fastest(AUTO_ROWS)
    assert got["variant"] == "openvino int8" and got["runtime"] == "openvino"
    assert got["speedup"] == 2.0  # against its own backend's fp32 (8 ms / 4 ms)
    assert "4.00 ms p50" in got["reason"] and "onnxruntime int8 6.00 ms" in got["reason"]
    assert [a["gate"] for a in got["alternatives"]] == ["passed"] * 4


def test_auto_skips_a_quantized_file_below_the_gate():
    rows = [*AUTO_ROWS[:3], _scored("openvino int8", "openvino", "int8", 4.0, 0.62, fmt="xml")]
    got = choose_fastest(rows)
    assert got["variant"] == "onnxruntime int8"
    assert "openvino int8 not a candidate: top-1 agreement with fp32 0.620 (gate: 0.9)" in got["reason"]


def test_auto_never_delivers_an_int8_slower_than_an_fp32():
    rows = [AUTO_ROWS[0], _scored("onnxruntime int8", "onnxruntime", "int8", 12.0, 0.99), AUTO_ROWS[2],
            _scored("openvino int8", "openvino", "int8", 9.0, 0.99, fmt="xml")]
    assert choose_fastest(rows)["variant"] == "openvino fp32"
    assert choose_fastest(rows, prefer="quantized")["variant"] == "openvino int8"


def test_the_gate_uses_the_task_metric_where_there_are_labels():
    assert gate(_scored("a", "onnxruntime", "int8", 1.0, 0.5, delta=-0.005)) is None  # labelled: the metric decides
    assert "drops 2.00 points (gate: 1)" in gate(_scored("a", "onnxruntime", "int8", 1.0, 0.99, delta=-0.02))
    assert gate(_scored("a", "onnxruntime", "int8", 1.0, 0.99, delta=-0.02), max_drop=0.03) is None
    row = _scored("a", "onnxruntime", "int8", 1.0, None)
    row.fidelity = {"top1_agreement": None, "cosine": 0.95}
    assert "output cosine to fp32 0.9500" in gate(row)
    assert gate(_scored("f", "onnxruntime", "fp32", 1.0, 0.1)) is None
