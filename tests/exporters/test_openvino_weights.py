"""Weight-only int4 / int8 of an OpenVINO IR with nncf.compress_weights, on gpt_tiny and real text."""

import json

import numpy as np
import pytest

from dlcompress.exporters import EXPORTERS, ExportOptions
from dlcompress.recipes.loading import load_model
from dlcompress.toolkit.errors import UnsupportedError
from dlcompress.toolkit.runtimes import open_runtime
from dlcompress.toolkit.sources.text import load_text_lm
from dlcompress.toolkit.stages.quantize import QuantizeOptions, check_options, quantize

pytestmark = pytest.mark.openvino


@pytest.fixture(scope="module")
def ir(tmp_path_factory):
    """gpt_tiny as an OpenVINO IR, calibration windows and held-out windows of real text."""
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    art = load_model("gpt_tiny")
    path = tmp_path_factory.mktemp("ovw") / "gpt.xml"
    fp32 = EXPORTERS.get("openvino").export(art, path, ExportOptions())
    data = load_text_lm(art.spec)
    calib = [data.train.batch(range(i, i + 8)) for i in range(0, 16, 8)]
    return fp32, calib, data.test.batch(range(32))


def _agreement(ref, q, feed) -> float:
    a, b = open_runtime(ref).run(feed)["logits"], open_runtime(q).run(feed)["logits"]
    return float(np.mean(a.argmax(-1) == b.argmax(-1)))


@pytest.mark.parametrize("options,weights", [
    (QuantizeOptions(method="int4"), {"int4": 8, "int8": 3, "float": 0}),  # embeddings (2) and LM head in 8 bits
    (QuantizeOptions(method="int4", embeddings="int4", symmetric=True, group_size=16), {"int4": 11, "int8": 0, "float": 0}),
    (QuantizeOptions(method="int8-weights"), {"int4": 0, "int8": 11, "float": 0}),
], ids=["int4", "int4-all-layers-sym-g16", "int8-weights"])
def test_compress_weights(ir, tmp_path, options, weights):
    fp32, _, feed = ir
    q = quantize(fp32, options, None, tmp_path / "q.xml")
    rec = q.lineage[-1]
    assert q.precision == options.precision and rec.params["api"] == "nncf.compress_weights"
    assert rec.effect["weights"] == weights
    assert rec.params["mode"] == f"int{options.bits}_{'sym' if options.symmetric else 'asym'}"
    if options.method == "int4":
        assert rec.params["group_size"] == (options.group_size or 32)  # 32: the largest that divides gpt_tiny's K
    assert q.size_bytes < 0.55 * fp32.size_bytes
    assert _agreement(fp32, q, feed) > (0.97 if options.method == "int8-weights" else 0.75)


def test_ratio_keeps_the_most_sensitive_layers_in_8_bits(ir, tmp_path):
    fp32, _, _ = ir
    q = quantize(fp32, QuantizeOptions(method="int4", ratio=0.5), None, tmp_path / "q.xml")
    w = q.lineage[-1].effect["weights"]
    assert 0 < w["int4"] < 8 and w["int4"] + w["int8"] == 11 and q.lineage[-1].params["ratio"] == 0.5


def test_data_aware_awq_and_scale_estimation(ir, tmp_path):
    fp32, calib, feed = ir
    q = quantize(fp32, QuantizeOptions(method="int4", algorithm="awq+scale-estimation", samples=16), calib,
                 tmp_path / "q.xml")
    assert q.lineage[-1].params["calibration_samples"] == 16 and q.lineage[-1].effect["weights"]["int4"] == 8
    assert _agreement(fp32, q, feed) > 0.9
    with pytest.raises(UnsupportedError, match="needs calibration data"):
        quantize(fp32, QuantizeOptions(method="int4", algorithm="gptq"), None, tmp_path / "x.xml")


def test_bad_options_for_openvino(ir, tmp_path):
    with pytest.raises(UnsupportedError, match="hqq is not one of NNCF's.*--backend onnxruntime"):
        check_options("openvino", QuantizeOptions(method="int4", algorithm="hqq"))
    with pytest.raises(UnsupportedError, match="per output channel, not in groups"):
        check_options("openvino", QuantizeOptions(method="int8-weights", group_size=32))
    with pytest.raises(UnsupportedError, match="--group-size 128 does not divide the 32 input features"):
        quantize(ir[0], QuantizeOptions(method="int4", group_size=128), None, tmp_path / "q.xml")


@pytest.mark.slow  # issue 9: a heavy end-to-end run, in CI's slow step so the default command stays under 15 min
def test_cli_openvino_int4_reports_perplexity(cli, tmp_path):
    out = tmp_path / "out"
    r = cli("quantize", "--model", "gpt_tiny", "--backend", "openvino", "--method", "int4", "--ratio", "0.8",
            "--weight-algorithm", "awq", "--calib-samples", "16", "--eval-samples", "32", "--bench-seconds", "1",
            "--out", out)
    assert r.code == 0, r.err
    rows = json.loads((out / "report.json").read_text())["rows"]
    assert [x["precision"] for x in rows] == ["fp32", "int4"]
    assert all(x["metric"]["perplexity"] > 1 for x in rows)
    rec = json.loads((out / "lineage.json").read_text())["model.int4.xml"][-1]
    assert rec["params"]["calibration_samples"] == 16 and rec["params"]["sensitivity"] == "hessian_input_activation"
