"""The benchmark harness end to end: variants interleaved, failures as rows, plots, HTML, gates, merge."""

import json

import pytest

from dlcompress.benchmarks.report import load_report
from dlcompress.toolkit.devices import cpu_info
from tests.checks import check_latency_summary


@pytest.mark.slow  # issue 9: a heavy end-to-end run, in CI's slow step so the default command stays under 15 min
def test_bench_matrix_outputs_and_gates(cli, trained_small_cnn, tmp_path):
    out = tmp_path / "b"
    r = cli("bench", "--model", "small_cnn", "--weights", trained_small_cnn, "--backends", "torch,onnxruntime",
            "--precisions", "fp32,int8,fp16", "--devices", "cpu,edge,cuda", "--batch", "1,4", "--data", "fashion-mnist",
            "--eval-samples", "300", "--bench-seconds", "4", "--max-drop", "0.02", "--out", out)
    assert r.code == 0, r.err
    for f in ("report.json", "report.md", "report.html", "plots/pareto.png", "plots/sizes.png", "plots/latency.png"):
        assert (out / f).stat().st_size > 0, f
    rep = load_report(out)
    measured = {r.variant: r for r in rep.rows if r.latency}
    for v in ("torch/fp32/cpu/b1", "torch/fp32/edge/b4", "onnxruntime/int8/cpu/b4", "onnxruntime/fp16/edge/b1"):
        assert v in measured, sorted(measured)
    ort8 = measured["onnxruntime/int8/cpu/b1"]
    assert ort8.metric["samples"] == 300 and abs(ort8.metric_delta) <= 0.02
    assert ort8.latency["threads"] >= 1 and measured["onnxruntime/int8/edge/b1"].latency["threads"] == 1
    assert len(ort8.latency["samples_ms"]) == ort8.latency["samples"] >= 20
    assert ort8.size_ratio_vs_reference < 0.4
    # the int8 file against the fp32 ONNX file of the same run (measured 105,703 / 394,194 bytes = 0.27)
    assert ort8.size_bytes < 0.35 * measured["onnxruntime/fp32/cpu/b1"].size_bytes
    # peak memory is measured above the child's own baseline (the ordering of int8 and fp32 peaks is not asserted:
    # measured 61.3 vs 62.4 MB for this 0.4 MB model, within the noise of a process's resident size)
    mem = ort8.peak_memory
    assert mem["peak_rss_mb"] > mem["baseline_rss_mb"] > 0
    assert mem["model_mb"] == pytest.approx(mem["peak_rss_mb"] - mem["baseline_rss_mb"], abs=0.11)
    assert ort8.fidelity["top1_agreement"] > 0.95
    unmeasured = {r.variant: r for r in rep.rows if not r.latency}
    for row in unmeasured.values():  # every gap is a row with its reason
        assert row.reason and row.status in ("failed", "skipped")
    assert "torch/fp16/all" in unmeasured and "onnxruntime/fp32/cuda" in unmeasured
    # torch int8 of small_cnn is not built: on x86, Inductor's qconv lowering fails on its 1-channel stem (torch 2.14;
    # the three-channel case is test_torch_int8_is_measured_on_a_three_channel_model); elsewhere the x86 quantizer
    # does not apply
    assert not [v for v in measured if v.startswith("torch/int8/")]
    torch8 = unmeasured["torch/int8/all"]
    expected = "torch PT2E int8 failed for small_cnn" if cpu_info().is_x86 else "needs an x86 CPU"
    assert torch8.status == "failed" and expected in torch8.reason, torch8.reason
    assert {e["target"] for e in rep.estimates} >= {"raspberry-pi-4", "coral-edge-tpu", "jetson-orin-nano", "phone-big-core"}
    assert rep.environment["cpu"]["flags"] is not None and "vnni" in rep.environment["cpu"]
    assert rep.gates and all(g["passed"] for g in rep.gates)
    html = (out / "report.html").read_text()
    assert html.count("<img") == 3 and "roofline estimates" in html and "Source:" in html
    # merge with a second run and render again
    r = cli("bench", "--model", "small_cnn", "--weights", trained_small_cnn, "--backends", "onnxruntime",
            "--precisions", "fp32", "--data", "fashion-mnist", "--eval-samples", "100", "--bench-seconds", "2",
            "--out", tmp_path / "b2")
    assert r.code == 0, r.err
    r = cli("report", out, tmp_path / "b2", "--out", tmp_path / "merged", "--json")
    assert r.code == 0, r.err
    merged = json.loads(r.out)
    assert len(merged["rows"]) == len(rep.rows) + 1
    assert (tmp_path / "merged" / "report.html").exists()


def test_gate_failure_exits_non_zero_but_writes_report(cli, trained_small_cnn, tmp_path):
    out = tmp_path / "g"
    r = cli("bench", "--model", "small_cnn", "--weights", trained_small_cnn, "--backends", "onnxruntime",
            "--precisions", "fp32,int8", "--data", "fashion-mnist", "--eval-samples", "100", "--bench-seconds", "2",
            "--min-metric", "0.999", "--out", out)
    assert r.code == 3 and "gate failed" in r.err and "< 0.999" in r.err
    assert (out / "report.json").exists()
    assert any(not g["passed"] for g in load_report(out).gates)


def test_bench_bad_inputs(cli, tmp_path):
    r = cli("bench", "--model", "small_cnn", "--backends", "tensorrt", "--out", tmp_path / "x")
    assert r.code == 2 and "unknown backend 'tensorrt'" in r.err
    r = cli("bench", "--model", "small_cnn", "--devices", "tpu", "--out", tmp_path / "x")
    assert r.code == 2 and "unknown device 'tpu'" in r.err
    r = cli("bench", "--model", "small_cnn", "--data", "photos", "--min-metric", "0.5", "--out", tmp_path / "x")
    assert r.code == 2 and "need labelled data" in r.err
    r = cli("bench")
    assert r.code == 2 and "nothing to benchmark" in r.err
    r = cli("report", tmp_path)
    assert r.code == 2 and "no report.json" in r.err
    assert not (tmp_path / "x").exists()


@pytest.mark.slow  # issue 9: a heavy end-to-end run, in CI's slow step so the default command stays under 15 min
def test_torch_int8_is_measured_on_a_three_channel_model(cli, tmp_path):
    """PT2E + X86InductorQuantizer lowered by torch.compile: built, evaluated and timed like any variant
    (small_cnn's 1-channel stem trips Inductor's qconv lowering, so a 3-channel tiny ResNet is used)."""
    out = tmp_path / "t"
    r = cli("bench", "--model", "resnet18_tiny", "--backends", "torch", "--precisions", "fp32,int8",
            "--bench-seconds", "2", "--eval-samples", "16", "--out", out)
    assert r.code == 0, r.err
    rows = {row.variant: row for row in load_report(out).rows}
    int8 = rows["torch/int8/cpu/b1"]
    assert int8.status == "quantized", int8.reason
    check_latency_summary(int8.latency)
    assert int8.fidelity["cosine"] > 0.95
    kernels = int8.execution["int8_kernels"]  # Inductor's counters: convs/linears lowered to oneDNN int8
    assert kernels["conv"]["int8"] == kernels["conv"]["total"] > 0 and kernels["linear"]["total"] == 1
