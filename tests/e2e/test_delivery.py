"""A quantized model slower than fp32 on this machine is not delivered: the report names the faster file and why.

fp16 on ONNX Runtime's x86 CPU provider is slower than fp32 on every x86 CPU without native fp16 arithmetic
(the graph runs through Cast nodes and fp32 kernels), so it makes the slower-than-fp32 case real here.
"""

from __future__ import annotations

import json

import pytest

from dlcompress.toolkit.devices import cpu_info

FAST = ("--model", "small_cnn", "--data", "digits", "--eval-samples", "64", "--bench-seconds", "2")


@pytest.mark.skipif(not cpu_info().is_x86 or cpu_info().has_native_fp16,
                    reason="fp16 is slower than fp32 on ONNX Runtime's CPU provider only on x86 without native fp16")
def test_an_fp16_model_slower_than_fp32_delivers_fp32_with_the_reason(cli, tmp_path):
    out = tmp_path / "q"
    r = cli("quantize", *FAST, "--method", "fp16", "--out", out, "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    fp32, fp16 = report["rows"]
    assert fp16["speedup_vs_reference"] < 1.0, "fp16 ran faster than fp32 here: this test's premise is gone"
    delivered = report["delivered"]
    assert (delivered["file"], delivered["variant"]) == ("model.onnx", "fp32")
    assert f"{fp16['speedup_vs_reference']:.2f}x the speed of fp32" in delivered["reason"]
    assert "model.fp16.onnx stays in the folder" in delivered["reason"]
    assert (out / "model.fp16.onnx").exists()  # kept for whoever wants it for its size
    assert "**delivered**: `model.onnx` (fp32)" in (out / "report.md").read_text()
    assert any("fp16 is slower than fp32" in line for line in report["diagnosis"])  # and why it is slower


def test_deliver_quantized_delivers_the_quantized_file(cli, tmp_path):
    out = tmp_path / "q"
    r = cli("quantize", *FAST, "--method", "fp16", "--deliver", "quantized", "--out", out, "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["delivered"]["file"] == "model.fp16.onnx" and report["delivered"]["precision"] == "fp16"


def test_an_unknown_deliver_choice_is_one_line_and_exit_2(cli, tmp_path):
    r = cli("quantize", *FAST, "--deliver", "smallest", "--out", tmp_path / "q")
    assert r.code == 2 and "--deliver 'smallest' is not one of fastest, quantized" in r.err
    assert "Traceback" not in r.err and not (tmp_path / "q").exists()
