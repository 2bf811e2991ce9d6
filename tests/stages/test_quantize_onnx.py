import pytest

from dlcompress.benchmarks.diagnosis import onnx_op_census
from dlcompress.toolkit.runtimes import open_runtime
from dlcompress.exporters import EXPORTERS, ExportOptions
from dlcompress.toolkit.data import ImageTransform, load_dataset
from dlcompress.toolkit.errors import UnsupportedError
from dlcompress.toolkit.metrics import fidelity
from dlcompress.toolkit.models import recalibrate_batchnorm
from dlcompress.recipes.loading import load_model
from dlcompress.toolkit.stages import quantize_onnx  # noqa: F401
from dlcompress.toolkit.stages.quantize import QuantizeOptions, quantize


@pytest.fixture(scope="module")
def fp32(tmp_path_factory):
    import torch

    d = load_dataset("fashion-mnist")
    t = ImageTransform(1, (28, 28))
    art = load_model("small_cnn")
    recalibrate_batchnorm(art.model, [torch.from_numpy(t(d.train.batch(range(64))))])
    out = tmp_path_factory.mktemp("q") / "m.onnx"
    onnx_art = EXPORTERS.get("onnx").export(art, out, ExportOptions())
    calib = [{"input": t(d.train.batch(range(i, i + 8)))} for i in range(0, 64, 8)]
    evalx = {"input": t(d.test.batch(range(200)))}
    return onnx_art, calib, evalx


@pytest.mark.parametrize("options,expect_ops", [
    (QuantizeOptions(), {"QLinearConv"}),
    (QuantizeOptions(quant_format="qdq"), {"QuantizeLinear", "DequantizeLinear"}),
    (QuantizeOptions(calibration="entropy", samples=32), {"QLinearConv"}),
    (QuantizeOptions(calibration="percentile", per_channel=False), {"QLinearConv"}),
    (QuantizeOptions(method="dynamic"), {"ConvInteger"}),
    (QuantizeOptions(method="fp16"), {"Cast"}),
], ids=["qoperator-minmax", "qdq", "entropy", "percentile-per-tensor", "dynamic", "fp16"])
def test_quantize_variants(fp32, tmp_path, options, expect_ops):
    art, calib, evalx = fp32
    q = quantize(art, options, calib if options.method == "static" else None, tmp_path / "q.onnx")
    assert q.format == art.format and q.precision == options.precision
    assert q.lineage[-1].stage == "quantize" and q.lineage[-1].params["method"] == options.method
    ops = onnx_op_census(q.path, optimized=False)
    assert expect_ops <= set(ops), ops
    ratio = q.size_bytes / art.size_bytes
    assert ratio < (0.6 if options.method == "fp16" else 0.4)
    ref = open_runtime(art).run(evalx)["logits"]
    out = open_runtime(q).run(evalx)["logits"]
    fid = fidelity(ref, out, classification=True)
    assert fid.cosine > 0.98 and fid.top1_agreement > 0.9


def test_static_needs_calibration(fp32, tmp_path):
    with pytest.raises(UnsupportedError, match="calibration"):
        quantize(fp32[0], QuantizeOptions(), None, tmp_path / "q.onnx")


def test_bad_options_are_user_errors():
    with pytest.raises(UnsupportedError, match="--calibration"):
        QuantizeOptions(calibration="kl")
    with pytest.raises(UnsupportedError, match="--method"):
        QuantizeOptions(method="int4")
