import pytest

from dlcompress.benchmarks.gates import Gates, check_gates
from dlcompress.benchmarks.plots import pareto_front
from dlcompress.benchmarks.report import Report, Row
from dlcompress.benchmarks.roofline import TARGETS, estimate, estimates_for


def test_roofline_compute_and_memory_bounds():
    pi = next(t for t in TARGETS if t.name == "raspberry-pi-4")
    e = estimate(4_000_000_000, 25_000_000, "fp32", pi)  # ResNet-50-like
    assert e["compute_ms"] == pytest.approx(2 * 4e9 / 48e9 * 1e3, rel=1e-3)
    assert e["memory_ms"] == pytest.approx(100e6 / 12.8e9 * 1e3, rel=1e-3)
    assert e["bound"] == "compute" and e["estimate_ms"] == e["compute_ms"]
    tpu = next(t for t in TARGETS if t.name == "coral-edge-tpu")
    assert estimate(1, 1, "fp32", tpu)["estimate_ms"] is None  # int8 only
    small = estimate(300_000_000, 3_500_000, "int8", tpu)  # fits in 8 MB SRAM: no streaming
    big = estimate(300_000_000, 25_000_000, "int8", tpu)
    assert small["memory_ms"] == 0 and big["bound"] == "memory"
    assert all(t.source and t.derivation for t in TARGETS)
    assert len(estimates_for(10**9, 10**6, ["fp32", "int8"])) == 2 * len(TARGETS)


def test_pareto_front():
    pts = [(10, 0.9), (5, 0.8), (20, 0.95), (6, 0.7), (30, 0.9)]
    assert pareto_front(pts) == [(5, 0.8), (10, 0.9), (20, 0.95)]


def test_gates():
    r = Report("bench", {"name": "m"}, {}, {})
    r.rows = [Row("a/fp32", "onnx", "fp32", "ort", metric={"name": "top1", "value": 0.90}, metric_delta=0.0),
              Row("a/int8", "onnx", "int8", "ort", metric={"name": "top1", "value": 0.87}, metric_delta=-0.03)]
    res = check_gates(r, Gates(min_metric=0.88, max_drop=0.01))
    failed = [g for g in res if not g["passed"]]
    assert {g["gate"] for g in failed} == {"min_metric", "max_drop"} and len(failed) == 2
    assert all(g["passed"] for g in check_gates(r, Gates(min_metric=0.8, max_drop=0.05)))
    assert not Gates().active
