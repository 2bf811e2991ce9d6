"""The OpenVINO backend: IR export + validation, explicit precision, NNCF int8 (plain, accuracy-controlled,
ignored scope), option checks, the missing-extra message, and the CLI end to end on real Fashion-MNIST."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlcompress.exporters.validate import validate_outputs
from dlcompress.recipes.loading import load_model
from dlcompress.toolkit.artifact import Format
from dlcompress.toolkit.backends import BACKENDS, Backend
from dlcompress.toolkit.errors import (
    BackendUnavailableError,
    ExportError,
    UnsupportedError,
)
from dlcompress.toolkit.model_options import ModelOptions
from dlcompress.toolkit.runtimes import RuntimeOptions, open_runtime
from dlcompress.toolkit.stages.quantize import (
    HeldOut,
    QuantizeOptions,
    check_options,
    quantize,
)

pytestmark = pytest.mark.openvino


@pytest.fixture(scope="module")
def ov():  # noqa: ANN201
    return pytest.importorskip("openvino")


def export(art, path, route="auto"):  # noqa: ANN001, ANN201
    from dlcompress.exporters import EXPORTERS, ExportOptions

    return EXPORTERS.get("openvino").export(art, path, ExportOptions(route=route))


def count(path, op_type):  # noqa: ANN001, ANN201
    import openvino as ov

    return sum(op.get_type_name() == op_type for op in ov.Core().read_model(str(path)).get_ordered_ops())


@pytest.mark.parametrize("name", ["small_cnn", "resnet18"])
def test_export_validates_fp32_with_f32_precision(ov, tmp_path, name):
    art = load_model(name)
    ir = export(art, tmp_path / "m.xml")
    assert ir.format is Format.OPENVINO and ir.lineage[-1].params["route"] == "torch"
    assert ir.lineage[-1].params["compress_to_fp16"] is False
    params = sum(p.numel() for p in art.model.parameters())
    assert (tmp_path / "m.bin").stat().st_size >= 4 * params * 0.95  # fp32 weights, not fp16
    rt = open_runtime(ir)
    assert rt.describe()["inference_precision"] == "f32" and rt.output_names == ["logits"]
    feeds = [art.spec.example_inputs(b, seed=b) for b in (1, 3)]  # dynamic batch
    result = validate_outputs(open_runtime(art), rt, feeds, art.spec.tolerance.atol, art.spec.tolerance.rtol)
    assert result.passed, result.problems


def test_default_precision_is_reported_and_differs(ov, tmp_path):
    """On CPUs with bf16 the plugin's default is bf16: the runtime must say so (and it is less exact)."""
    art = load_model("resnet18")
    ir = export(art, tmp_path / "m.xml")
    feeds = [art.spec.example_inputs(2)]
    ref = open_runtime(art).run(feeds[0])["logits"]
    exact, default = open_runtime(ir), open_runtime(ir, RuntimeOptions(inference_precision="default"))
    has_bf16 = "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    assert default.describe()["inference_precision"] == ("bf16" if has_bf16 else "f32")
    assert default.describe()["requested_precision"] == "default"
    d_exact = np.abs(exact.run(feeds[0])["logits"] - ref).max()
    d_default = np.abs(default.run(feeds[0])["logits"] - ref).max()
    assert d_exact < 1e-3
    if has_bf16:
        assert d_default > 10 * d_exact
    with pytest.raises(UnsupportedError, match="f8"):
        open_runtime(ir, RuntimeOptions(inference_precision="f8"))


def test_onnx_route_and_bad_route(ov, tmp_path):
    art = load_model("small_cnn")
    ir = export(art, tmp_path / "m.xml", route="torchscript")
    assert ir.lineage[-1].params["route"] == "onnx (torchscript)"
    assert not list(tmp_path.glob("dlc-ov-*"))  # the intermediate ONNX file is gone
    result = validate_outputs(open_runtime(art), open_runtime(ir), [art.spec.example_inputs(2)], 1e-4, 1e-3)
    assert result.passed, result.problems
    with pytest.raises(ExportError, match="route"):
        export(art, tmp_path / "x.xml", route="tflite")


@pytest.fixture(scope="module")
def trained(trained_small_cnn, tmp_path_factory, ov):  # noqa: ANN001, ANN201
    """The trained CNN as an fp32 IR, with real calibration, evaluation and held-out batches."""
    from dlcompress.recipes.common import DataOptions, prepare

    prepared = prepare("small_cnn", ModelOptions(weights=str(trained_small_cnn)), DataOptions("fashion-mnist"))
    ir = export(prepared.artifact, tmp_path_factory.mktemp("ov") / "m.xml")
    calib = prepared.feeds("train", 128, 8)
    evaluation = prepared.feeds("test", 1000, 100)
    labels = prepared.labels(1000)
    test = prepared.data.test
    idx = [np.arange(i, i + 50) for i in range(1000, 1300, 50)]
    held = HeldOut([{"input": prepared.transform(test.batch(i))} for i in idx], [test.labels[i] for i in idx], "test")
    return ir, calib, evaluation, labels, held


def top1(artifact, feeds, labels):  # noqa: ANN001, ANN201
    rt = open_runtime(artifact)
    return float(np.mean(np.argmax(np.concatenate([rt.run(f)["logits"] for f in feeds]), 1) == labels))


def test_nncf_int8_keeps_top1_on_fashion_mnist(trained, tmp_path):
    ir, calib, evaluation, labels, _ = trained
    q = quantize(ir, QuantizeOptions(samples=128), calib, tmp_path / "q.xml")
    assert q.format is Format.OPENVINO and q.precision == "int8"
    rec = q.lineage[-1]
    assert rec.params["calibration_samples"] == 128 and rec.params["preset"] == "performance"
    assert rec.effect["fake_quantize_nodes"] == count(q.path, "FakeQuantize") > 0
    assert q.size_bytes < 0.4 * ir.size_bytes
    base, int8 = top1(ir, evaluation, labels), top1(q, evaluation, labels)
    assert base > 0.7
    assert abs(base - int8) <= 0.01, (base, int8)


def test_accuracy_controlled_mode(trained, tmp_path):
    ir, calib, evaluation, labels, held = trained
    q = quantize(ir, QuantizeOptions(samples=64, max_drop=0.01), calib, tmp_path / "ac.xml", held_out=held)
    rec = q.lineage[-1]
    assert rec.params["mode"] == "accuracy-controlled" and rec.params["held_out_samples"] == 300
    assert rec.effect["within_max_drop"] and rec.effect["held_out_drop"] <= 0.01
    assert count(q.path, "FakeQuantize") > 0
    assert top1(ir, evaluation, labels) - top1(q, evaluation, labels) <= 0.02
    with pytest.raises(UnsupportedError, match="needs held-out data"):
        quantize(ir, QuantizeOptions(max_drop=0.01), calib, tmp_path / "x.xml")
    unlabelled = HeldOut(feeds=held.feeds, labels=[])
    with pytest.raises(UnsupportedError, match="needs labelled data.*--backend onnxruntime"):
        quantize(ir, QuantizeOptions(max_drop=0.01), calib, tmp_path / "y.xml", held_out=unlabelled)


def test_ignored_scope(trained, tmp_path):
    from dlcompress.toolkit.stages.quantize_openvino import OpenVinoQuantizeOptions

    ir, calib, *_ = trained
    plain = count(quantize(ir, QuantizeOptions(samples=32), calib, tmp_path / "a.xml").path, "FakeQuantize")
    for scope in (("type:Linear",), ("re:.*classifier.*",), ("type:MatMul",)):
        opts = QuantizeOptions(samples=32, advanced=OpenVinoQuantizeOptions(ignored_scope=scope))
        q = quantize(ir, opts, calib, tmp_path / "b.xml")
        assert count(q.path, "FakeQuantize") < plain, scope
        assert q.lineage[-1].params["ignored_scope"] == list(scope)
    with pytest.raises(UnsupportedError, match="names no node.*node names look like"):
        quantize(ir, QuantizeOptions(advanced=OpenVinoQuantizeOptions(ignored_scope=("layer9",))), calib, tmp_path / "c.xml")


def test_onnx_runtime_options_are_rejected_for_openvino_and_back():
    from dlcompress.toolkit.stages.quantize_openvino import OpenVinoQuantizeOptions

    with pytest.raises(UnsupportedError, match="--quant-format.*ONNX Runtime"):
        check_options("openvino", QuantizeOptions(quant_format="qdq"))
    with pytest.raises(UnsupportedError, match="--method dynamic"):
        check_options("openvino", QuantizeOptions(method="dynamic"))
    with pytest.raises(UnsupportedError, match="--preset.*openvino quantizer"):
        check_options("onnx", QuantizeOptions(advanced=OpenVinoQuantizeOptions(preset="mixed")))
    check_options("onnx", QuantizeOptions(max_drop=0.01))  # ONNX Runtime has accuracy control too (issue 11)
    with pytest.raises(UnsupportedError, match="--max-drop.*torch"):
        check_options("torch", QuantizeOptions(max_drop=0.01))
    with pytest.raises(UnsupportedError, match="--preset"):
        OpenVinoQuantizeOptions(preset="fastest")


def test_missing_backend_names_the_extra(cli, monkeypatch):
    fake = Backend("openvino-missing", Format.OPENVINO, exporter="openvino", runtime="openvino", suffix=".xml",
                   requires=("dlcompress_no_such_module",), extra="openvino")
    assert not fake.available()
    with pytest.raises(BackendUnavailableError, match=r"dlcompress_no_such_module.*pip install 'dlcompress\[openvino\]'"):
        fake.require()
    monkeypatch.setitem(BACKENDS._entries, fake.name, fake)
    r = cli("quantize", "--model", "small_cnn", "--backend", fake.name)
    assert r.code == 2 and "pip install 'dlcompress[openvino]'" in r.err and "Traceback" not in r.err


def test_cli_quantize_openvino(cli, trained_small_cnn, tmp_path, ov):
    out = tmp_path / "q"
    r = cli("quantize", "--model", "small_cnn", "--weights", trained_small_cnn, "--data", "fashion-mnist",
            "--backend", "openvino", "--eval-samples", "1000", "--bench-seconds", "3", "--out", out, "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    fp32, int8 = report["rows"]
    assert fp32["status"] == "validated" and fp32["validation"]["passed"] and fp32["format"] == "openvino"
    assert int8["precision"] == "int8" and int8["runtime"] == "openvino"
    assert fp32["execution"]["inference_precision"] == int8["execution"]["inference_precision"] == "f32"
    assert abs(int8["metric"]["value"] - fp32["metric"]["value"]) <= 0.01
    assert int8["size_bytes"] < 0.4 * fp32["size_bytes"]
    # peak memory is measured above the child's own baseline; the int8/fp32 ordering of the peaks is not asserted
    # (measured for this 0.4 MB model: fp32 98.5 MB, int8 100.4 MB, both above a 30 MB baseline)
    for mem in (fp32["peak_memory"], int8["peak_memory"]):
        assert mem["peak_rss_mb"] > mem["baseline_rss_mb"] > 0, mem
    assert {p.name for p in out.iterdir()} == {"model.xml", "model.bin", "model.int8.xml", "model.int8.bin",
                                               "report.json", "report.md", "lineage.json"}
    assert "openvino (f32)" in (out / "report.md").read_text()


def test_cli_export_openvino_keeps_bin_beside_xml(cli, tmp_path, ov):
    r = cli("export", "--model", "small_cnn", "--format", "openvino", "--out", tmp_path / "cnn.xml")
    assert r.code == 0 and "validated" in r.out, r.err
    assert {p.name for p in tmp_path.iterdir()} == {"cnn.xml", "cnn.bin"}
    ov.Core().compile_model(str(tmp_path / "cnn.xml"), "CPU")


def test_fused_attention_makes_nncf_treat_the_model_as_a_transformer(ov):
    """OpenVINO's torch frontend turns ``F.scaled_dot_product_attention`` into one ScaledDotProductAttention op
    (no Softmax left): ``auto`` must still pick NNCF's transformer scheme (seen on MiniLM: cosine 0.62 as a CNN)."""
    import torch

    from dlcompress.toolkit.stages.quantize_openvino import model_type

    class Attention(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv = torch.nn.Linear(16, 48)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            q, k, v = self.qkv(x).chunk(3, dim=-1)
            return torch.nn.functional.scaled_dot_product_attention(q, k, v)

    class Conv(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(x * 2)

    attention = ov.convert_model(Attention().eval(), example_input=torch.randn(1, 8, 16))
    assert any(op.get_type_name() == "ScaledDotProductAttention" for op in attention.get_ordered_ops())
    assert model_type(attention, "auto")[1] == "transformer"
    assert model_type(ov.convert_model(Conv(), example_input=torch.randn(1, 8)), "auto")[1] == "cnn"


def test_recurrent_models_get_the_mixed_preset_by_default(ov, tmp_path):
    """NNCF's default (performance: symmetric activations) broke EasyOCR's BiLSTM CRNN (CER 0.0045 -> 1.02;
    mixed: 0.0055): an IR with LSTMSequence is quantized with the mixed preset unless --preset says otherwise."""
    from dlcompress.toolkit.stages.quantize_openvino import OpenVinoQuantizeOptions

    art = load_model("ctc_asr_tiny", ModelOptions())
    ir = export(art, tmp_path / "ctc.xml")
    assert count(ir.path, "LSTMSequence") > 0
    calib = [art.spec.example_inputs(4, seed=s) for s in range(4)]
    auto = quantize(ir, QuantizeOptions(samples=16), calib, tmp_path / "auto.xml").lineage[-1].params
    assert auto["preset"] == "mixed (auto: LSTMSequence)" and "asymmetric" in auto["activations"], auto
    opts = QuantizeOptions(samples=16, advanced=OpenVinoQuantizeOptions(preset="performance"))
    chosen = quantize(ir, opts, calib, tmp_path / "perf.xml").lineage[-1].params
    assert chosen["preset"] == "performance" and "symmetric" in chosen["activations"]
    plain = quantize(export(load_model("small_cnn", ModelOptions()), tmp_path / "cnn.xml"), QuantizeOptions(samples=8),
                     [load_model("small_cnn", ModelOptions()).spec.example_inputs(8)], tmp_path / "cnn8.xml")
    assert plain.lineage[-1].params["preset"] == "performance"
