"""The delivery rule: a quantized model slower than its fp32 export is not what the job delivers."""

from __future__ import annotations

import pytest

from dlcompress.benchmarks.delivery import choose_delivery
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
