"""The main job end to end, through the CLI, on real data."""

import json

import onnx
import pytest

from dlcompress.benchmarks.report import load_report


def test_trained_small_cnn_int8_keeps_accuracy(cli, trained_small_cnn, tmp_path):
    """Acceptance: a CNN trained by `dlcompress train` on Fashion-MNIST keeps top-1 within 1 point in int8."""
    out = tmp_path / "q"
    r = cli("quantize", "--model", "small_cnn", "--weights", trained_small_cnn, "--data", "fashion-mnist",
            "--eval-samples", "2000", "--bench-seconds", "5", "--out", out, "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    fp32, int8 = report["rows"]
    assert fp32["metric"]["samples"] == 2000
    assert fp32["metric"]["value"] > 0.75  # the checkpoint really learned
    assert abs(int8["metric"]["value"] - fp32["metric"]["value"]) <= 0.01
    assert int8["fidelity"]["top1_agreement"] > 0.97
    assert report["model"]["weights"] == str(trained_small_cnn)
    assert (out / "report.json").exists() and load_report(out).rows[1].precision == "int8"


@pytest.mark.slow  # ~25 s here: real-size ResNet-18 on the bundled photos, peak memory in child processes
def test_default_data_photos_resnet18_report_and_artifacts(cli, tmp_path):
    out = tmp_path / "r18"
    r = cli("quantize", "--model", "resnet18", "--bench-seconds", "5", "--out", out)
    assert r.code == 0, r.err
    assert {p.name for p in out.iterdir()} == {"model.onnx", "model.int8.onnx", "report.json", "report.md", "lineage.json"}
    rep = load_report(out)
    fp32, int8 = rep.rows
    assert fp32.status == "validated" and fp32.validation["passed"]
    assert int8.size_bytes <= 0.30 * fp32.size_bytes
    assert int8.fidelity["cosine"] > 0.95 and int8.fidelity["samples"] > 0
    for row in rep.rows:
        assert {"p50_ms", "p90_ms", "p99_ms", "throughput_per_s", "threads", "samples"} <= set(row.latency)
        assert row.peak_memory["peak_rss_mb"] > row.peak_memory["baseline_rss_mb"] > 0  # the model's own memory
    # int8 weights take a quarter of the memory: measured peak RSS 90 MB against 210 MB (above a 30 MB baseline)
    assert int8.peak_memory["peak_rss_mb"] < 0.75 * fp32.peak_memory["peak_rss_mb"]
    assert rep.data["name"] == "photos" and not rep.data["labelled"]
    assert rep.environment["cpu"]["cores"] >= 1 and "onnxruntime" in rep.environment["packages"]
    assert "random-init" in " ".join(rep.notes)
    lineage = json.loads((out / "lineage.json").read_text())
    assert [s["stage"] for s in lineage["model.int8.onnx"]] == ["build", "bn_recalibration", "export", "quantize"]
    md = (out / "report.md").read_text()
    assert "| int8 |" in md and "resnet18" in md
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind
    # the QOperator default quantizes every conv (the fast form on x86)
    ops = {n.op_type for n in onnx.load(str(out / "model.int8.onnx")).graph.node}
    assert "QLinearConv" in ops and "Conv" not in ops


def test_onnx_file_input_and_bench(cli, trained_small_cnn, tmp_path):
    exp = tmp_path / "m.onnx"
    r = cli("export", "--model", "small_cnn", "--weights", trained_small_cnn, "--out", exp)
    assert r.code == 0 and "validated" in r.out
    q = tmp_path / "q"
    r = cli("quantize", "--model", exp, "--data", "fashion-mnist", "--mean", "0", "--std", "1",
            "--eval-samples", "500", "--bench-seconds", "3", "--out", q, "--json")
    assert r.code == 0, r.err
    rows = json.loads(r.out)["rows"]
    assert rows[0]["status"] == "input" and abs(rows[1]["metric_delta"]) <= 0.02
    r = cli("bench", exp, q / "model.int8.onnx", "--data", "fashion-mnist", "--eval-samples", "300",
            "--bench-seconds", "3", "--json")
    assert r.code == 0, r.err
    rep = json.loads(r.out)
    assert [row["precision"] for row in rep["rows"]] == ["fp32", "int8"]
    assert rep["rows"][0]["metric"]["value"] > 0.7


def test_factory_model_and_dynamic_method(cli, tmp_path):
    from tests.conftest import DATA_DIR

    r = cli("quantize", "--model", f"{DATA_DIR / 'tiny_net.py'}:build", "--input-shape", "1,3,32,32",
            "--data", "photos", "--method", "dynamic", "--bench-seconds", "2", "--out", tmp_path / "f", "--json")
    assert r.code == 0, r.err
    rep = json.loads(r.out)
    assert rep["model"]["name"] == "tiny_net.build" and rep["rows"][1]["precision"] == "int8"
    # dynamic quantization really ran: integer conv/matmul fed by activations quantized at run time, no float
    # Conv/Gemm left (measured: 1 ConvInteger, 1 MatMulInteger, 2 DynamicQuantizeLinear)
    ops = {n.op_type for n in onnx.load(str(tmp_path / "f" / "model.int8.onnx")).graph.node}
    assert {"ConvInteger", "MatMulInteger", "DynamicQuantizeLinear"} <= ops and not ops & {"Conv", "Gemm", "MatMul"}
    assert "QLinearConv" not in ops  # the static (QOperator) form
    quantize = json.loads((tmp_path / "f" / "lineage.json").read_text())["model.int8.onnx"][-1]
    assert quantize["stage"] == "quantize" and quantize["params"]["method"] == "dynamic"


def test_zoo_list_and_show(cli):
    # several patterns, an entry listed once if it matches more than one (every entry's params and MACs are
    # computed by the zoo tests; listing all 93 here would recount them, a minute of detector forwards)
    r = cli("zoo", "list", "resnet*", "wide_resnet50_2", "mobilenet_v[23]*", "densenet121", "efficientnet_b0",
            "vit_b_16", "resnet50", "--json")
    assert r.code == 0
    listed = [e["name"] for e in json.loads(r.out)]
    names = {e["name"]: e for e in json.loads(r.out)}
    assert len(listed) == len(names) and "bert" not in names and "resnet18_tiny" in names
    assert {"resnet18", "resnet50", "wide_resnet50_2", "mobilenet_v2", "mobilenet_v3_large", "densenet121",
            "efficientnet_b0", "vit_b_16"} <= set(names)
    assert names["resnet50"]["params"] == 25_557_032 and names["resnet50"]["macs"] > 4e9
    r = cli("zoo", "show", "resnet50")
    assert r.code == 0 and "input[batch,3,224,224]" in r.out and "He et al." in r.out
