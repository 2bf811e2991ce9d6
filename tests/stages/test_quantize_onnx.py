from pathlib import Path

import pytest

from dlcompress.benchmarks.diagnosis import onnx_op_census
from dlcompress.exporters import EXPORTERS, ExportOptions
from dlcompress.recipes.loading import load_model
from dlcompress.toolkit.batchnorm import recalibrate_batchnorm
from dlcompress.toolkit.data import ImageTransform, load_dataset
from dlcompress.toolkit.errors import UnsupportedError
from dlcompress.toolkit.metrics import fidelity
from dlcompress.toolkit.runtimes import open_runtime
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
        QuantizeOptions(method="int3")


def _constant_weight_graph(path):
    """A conv net as Paddle2ONNX exports one (PP-OCR): opset 12, every weight a ``Constant`` node, the classifier's
    weight made by a ``Transpose`` of a constant (a weight computed by a node), none of them an initializer."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def const(name, shape, scale):
        value = numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)
        return helper.make_node("Constant", [], [name], value=value)

    nodes = [
        const("conv.w", (8, 1, 3, 3), 0.4), const("conv.b", (8,), 0.1),
        helper.make_node("Conv", ["input", "conv.w", "conv.b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"], axis=1),
        const("fc.w_t", (10, 8 * 14 * 14), 0.05),
        helper.make_node("Transpose", ["fc.w_t"], ["fc.w"], perm=[1, 0]),
        helper.make_node("MatMul", ["f", "fc.w"], ["m"]),
        const("fc.b", (10,), 0.1),
        helper.make_node("Add", ["m", "fc.b"], ["logits"]),
    ]
    graph = helper.make_graph(nodes, "constant_weights",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 28, 28])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def constant_weight_model(tmp_path_factory):
    from dlcompress.toolkit.loaders.onnx_file import load_onnx_file
    from dlcompress.toolkit.model_options import ModelOptions

    d = load_dataset("fashion-mnist")
    t = ImageTransform(1, (28, 28))
    path = _constant_weight_graph(tmp_path_factory.mktemp("cw") / "paddle_like.onnx")
    art = load_onnx_file(path, ModelOptions())
    calib = [{"input": t(d.train.batch(range(i, i + 8)))} for i in range(0, 64, 8)]
    return art, calib, {"input": t(d.test.batch(range(200)))}


def test_weights_made_by_nodes_are_folded_into_initializers(constant_weight_model, tmp_path):
    """What ORT's quantizer rejects ("Expected conv.w to be an initializer") folds into a file it takes as is."""
    import onnx
    from onnxruntime.quantization import quantize_dynamic

    from dlcompress.toolkit.stages.quantize_onnx import (
        constant_weights,
        fold_constant_weights,
    )

    src = constant_weight_model[0].path
    assert constant_weights(onnx.load(str(src)).graph) == ["conv.w", "conv.b", "fc.w"]
    done = fold_constant_weights(src, tmp_path / "folded.onnx")
    assert done and done.startswith("3 weights computed by Constant, Transpose nodes")
    folded = onnx.load(str(tmp_path / "folded.onnx"))
    onnx.checker.check_model(folded)
    assert constant_weights(folded.graph) == [] and {"conv.w", "conv.b", "fc.w"} <= {i.name for i in folded.graph.initializer}
    assert "Transpose" not in {n.op_type for n in folded.graph.node} and "fc.w_t" not in str(folded.graph.node)
    quantize_dynamic(str(tmp_path / "folded.onnx"), str(tmp_path / "dyn.onnx"))  # no pre-processing needed now
    assert "ConvInteger" in {n.op_type for n in onnx.load(str(tmp_path / "dyn.onnx")).graph.node}
    assert fold_constant_weights(tmp_path / "folded.onnx", tmp_path / "again.onnx") is None
    assert not (tmp_path / "again.onnx").exists()


@pytest.mark.parametrize("options,expect_ops", [
    (QuantizeOptions(), {"QLinearConv"}),
    (QuantizeOptions(quant_format="qdq"), {"QuantizeLinear", "DequantizeLinear"}),
    (QuantizeOptions(method="dynamic"), {"ConvInteger", "MatMulInteger"}),
], ids=["static", "static-qdq", "dynamic"])
def test_constant_weights_quantize_static_and_dynamic(constant_weight_model, tmp_path, monkeypatch, options, expect_ops):
    """Static and dynamic int8 of a graph whose weights are Constant nodes, written through relative paths (the
    pre-processing runs in another folder), close to fp32 on real images; the lineage says what was folded."""
    art, calib, evalx = constant_weight_model
    monkeypatch.chdir(tmp_path)
    q = quantize(art, options, calib if options.method == "static" else None, Path("q.onnx"))
    params = q.lineage[-1].params
    assert params["constant_weights"].startswith("3 weights computed by Constant, Transpose nodes folded"), params
    assert params["preprocess"].startswith("quant_pre_process"), params
    if options.quant_format == "qdq":  # per-channel DequantizeLinear (its axis) needs opset 13
        assert params["opset"].startswith("converted from opset 12 to 13"), params
    assert expect_ops <= set(onnx_op_census(tmp_path / "q.onnx", optimized=False))
    assert (tmp_path / "q.onnx").stat().st_size < 0.4 * art.size_bytes
    ref = open_runtime(art).run(evalx)["logits"]
    out = open_runtime(q).run(evalx)["logits"]
    fid = fidelity(ref, out, classification=True)
    assert fid.cosine > 0.98 and fid.top1_agreement > 0.9, fid


def test_a_graph_with_initializer_weights_is_not_rewritten(fp32, tmp_path):
    q = quantize(fp32[0], QuantizeOptions(method="dynamic"), None, tmp_path / "q.onnx")
    assert "constant_weights" not in q.lineage[-1].params
