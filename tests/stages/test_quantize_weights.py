"""Weight-only int4 / int8 with ONNX Runtime (MatMulNBits) on gpt_tiny, perplexity in the report, bad input."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from dlcompress.toolkit.artifact import Artifact, Format
from dlcompress.toolkit.errors import UnsupportedError
from dlcompress.toolkit.feeds import perplexity
from dlcompress.toolkit.runtimes import open_runtime
from dlcompress.toolkit.sources.text import load_text_lm
from dlcompress.toolkit.stages import quantize_onnx  # noqa: F401
from dlcompress.toolkit.stages.quantize import QuantizeOptions, check_options, quantize
from dlcompress.zoo import MODELS


@pytest.fixture(scope="module")
def int4_run(tmp_path_factory) -> Path:
    """``dlcompress quantize --model gpt_tiny --method int4`` once (export, MatMulNBits, evaluation on real text)."""
    from dlcompress.cli import main

    out = tmp_path_factory.mktemp("int4") / "gpt"
    code = main(["quantize", "--model", "gpt_tiny", "--method", "int4", "--eval-samples", "64", "--bench-seconds", "1",
                 "--out", str(out)])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def fp32(int4_run):
    """The exported fp32 gpt_tiny of that run, and held-out windows of real text to compare on."""
    spec = MODELS.get("gpt_tiny")
    data = load_text_lm(spec)
    return Artifact(Format.ONNX, spec, path=int4_run / "model.onnx"), data.test.batch(range(32))


def _nodes(path: Path) -> list:
    return list(onnx.load(str(path)).graph.node)


def _attr(node, name: str, default=None):
    return next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)


def _weight_matmuls(path: Path) -> int:
    model = onnx.load(str(path))
    inits = {i.name for i in model.graph.initializer}
    return sum(1 for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in inits)


def test_cli_int4_gpt_tiny_has_matmulnbits_and_perplexity(int4_run):
    report = json.loads((int4_run / "report.json").read_text())
    rows = {r["variant"]: r for r in report["rows"]}
    assert set(rows) == {"fp32", "int4"} and rows["int4"]["precision"] == "int4"
    nodes = _nodes(int4_run / "model.int4.onnx")
    bits = sorted(_attr(n, "bits") for n in nodes if n.op_type == "MatMulNBits")
    assert bits == [4] * 8 + [8]  # 8 Linear layers in 4 bits, the LM head in 8
    assert {_attr(n, "accuracy_level") for n in nodes if n.op_type == "MatMulNBits"} == {4}  # int8 compute
    assert sum(n.op_type == "GatherBlockQuantized" for n in nodes) == 2  # token and position embeddings, 8-bit
    assert _weight_matmuls(int4_run / "model.int4.onnx") == 0  # no float MatMul weight left
    ppl = {name: r["metric"]["perplexity"] for name, r in rows.items()}
    # random-init weights over a 1000-token vocabulary: close to uniform, perplexity near 1000
    assert 500 < ppl["fp32"] < 2000 and abs(ppl["int4"] - ppl["fp32"]) / ppl["fp32"] < 0.02
    assert rows["int4"]["fidelity"]["top1_agreement"] > 0.9
    assert rows["int4"]["size_bytes"] < 0.65 * rows["fp32"]["size_bytes"]
    assert "| perplexity |" in (int4_run / "report.md").read_text()
    # a slow weight-only variant is explained as weight-only, not with int8's reasons (VNNI, Q/DQ left in float)
    assert all("VNNI" not in d and "DequantizeLinear" not in d for d in report["diagnosis"])
    assert all("weight-only int4" in d or "tiny" in d for d in report["diagnosis"])
    record = json.loads((int4_run / "lineage.json").read_text())["model.int4.onnx"][-1]
    assert record["params"]["group_size"] == 32 and record["params"]["head"] == {"node_linear": "int8"}
    assert record["effect"]["matmul_nbits"] == {"int4": 8, "int8": 1}


def test_perplexity_is_exp_of_mean_cross_entropy():
    vocab = 50
    labels = np.random.default_rng(0).integers(0, vocab, size=(4, 7))
    assert perplexity(np.zeros((4, 7, vocab), np.float32), labels)["perplexity"] == pytest.approx(vocab)
    sure = np.full((4, 7, vocab), -30.0, np.float32)
    np.put_along_axis(sure, labels[..., None], 30.0, axis=-1)
    assert perplexity(sure, labels)["perplexity"] == pytest.approx(1.0, abs=1e-6)
    labels[0] = -1  # ignored positions
    assert perplexity(np.zeros((4, 7, vocab), np.float32), labels)["perplexity"] == pytest.approx(vocab)


@pytest.mark.parametrize("options,expect", [
    (QuantizeOptions(method="int8-weights"), {"bits": {8}, "block": {32}, "zero_points": True, "agree": 0.98}),
    (QuantizeOptions(method="int4", group_size=16, symmetric=True), {"bits": {4, 8}, "block": {16}, "zero_points": False, "agree": 0.9}),
    (QuantizeOptions(method="int4", algorithm="hqq"), {"bits": {4, 8}, "block": {32}, "zero_points": True, "agree": 0.9}),
], ids=["int8-weights", "int4-g16-sym", "int4-hqq"])
def test_weight_only_variants(fp32, tmp_path, options, expect):
    art, feed = fp32
    q = quantize(art, options, None, tmp_path / "q.onnx")
    assert q.precision == options.precision and q.lineage[-1].params["method"] == options.method
    nbits = [n for n in _nodes(q.path) if n.op_type == "MatMulNBits"]
    assert len(nbits) == 9 and {_attr(n, "bits") for n in nbits} == expect["bits"]
    assert {_attr(n, "block_size") for n in nbits} == expect["block"]
    assert all((len(n.input) > 3) == expect["zero_points"] for n in nbits if _attr(n, "bits") == options.bits)
    ref, out = open_runtime(art).run(feed)["logits"], open_runtime(q).run(feed)["logits"]
    assert np.mean(ref.argmax(-1) == out.argmax(-1)) > expect["agree"]


def test_embeddings_float_and_int4(fp32, tmp_path):
    art, feed = fp32
    kept = quantize(art, QuantizeOptions(method="int4", embeddings="float"), None, tmp_path / "f.onnx")
    ops = [n.op_type for n in _nodes(kept.path)]
    assert "GatherBlockQuantized" not in ops and ops.count("MatMulNBits") == 8 and _weight_matmuls(kept.path) == 1
    all4 = quantize(art, QuantizeOptions(method="int4", embeddings="int4"), None, tmp_path / "a.onnx")
    nodes = _nodes(all4.path)
    assert {_attr(n, "bits") for n in nodes if n.op_type == "MatMulNBits"} == {4}
    assert all(_attr(n, "bits", 4) == 4 for n in nodes if n.op_type == "GatherBlockQuantized")
    assert all4.size_bytes < kept.size_bytes


def test_group_size_must_divide_the_input_features(fp32, tmp_path):
    with pytest.raises(UnsupportedError, match="--group-size 64 does not divide the 32 input features.*--group-size 32"):
        quantize(fp32[0], QuantizeOptions(method="int4", group_size=64), None, tmp_path / "q.onnx")
    assert not (tmp_path / "q.onnx").exists()


def test_option_checks():
    with pytest.raises(UnsupportedError, match="power of two, at least 16"):
        QuantizeOptions(method="int4", group_size=48)
    with pytest.raises(UnsupportedError, match="power of two, at least 16"):
        QuantizeOptions(method="int4", group_size=8)
    with pytest.raises(UnsupportedError, match="not to --method static"):
        QuantizeOptions(method="static", group_size=32)
    with pytest.raises(UnsupportedError, match="--weight-algorithm 'magic'"):
        QuantizeOptions(method="int4", algorithm="magic")
    with pytest.raises(UnsupportedError, match="--ratio.*OpenVINO.*--backend openvino"):
        check_options("onnx", QuantizeOptions(method="int4", ratio=0.8))
    with pytest.raises(UnsupportedError, match="awq is OpenVINO's"):
        check_options("onnx", QuantizeOptions(method="int4", algorithm="awq"))
    assert QuantizeOptions(method="int4", algorithm="awq").needs_calibration
    assert not QuantizeOptions(method="int4", algorithm="hqq").needs_calibration


def test_gemm_with_transposed_weight_and_a_small_layer(tmp_path):
    """torch's nn.Linear as Gemm(transB=1) + bias: rewritten as MatMul + Add with the weight transposed; a layer
    with fewer than 16 input features stays float (MatMulNBits' smallest block), said in the lineage."""
    from onnx import TensorProto, helper, numpy_helper

    from dlcompress.toolkit.spec import ModelSpec, TensorSpec

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array((rng.standard_normal(s) * 0.2).astype(np.float32), n)
             for n, s in (("w0", (8, 64)), ("w1", (96, 64)), ("b1", (96,)), ("w2", (10, 96)), ("b2", (10,)))]
    nodes = [helper.make_node("MatMul", ["x", "w0"], ["h0"]), helper.make_node("Relu", ["h0"], ["r0"]),
             helper.make_node("Gemm", ["r0", "w1", "b1"], ["h1"], transB=1), helper.make_node("Relu", ["h1"], ["r1"]),
             helper.make_node("Gemm", ["r1", "w2", "b2"], ["logits"], transB=1)]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "mlp.onnx"))
    spec = ModelSpec(name="mlp", task="image-classification", builder=None, inputs=(TensorSpec("x", ("batch", 8)),),
                     outputs=(TensorSpec("logits", ("batch", 10)),))
    art = Artifact(Format.ONNX, spec, path=tmp_path / "mlp.onnx")
    q = quantize(art, QuantizeOptions(method="int8-weights"), None, tmp_path / "q.onnx")
    ops = [n.op_type for n in _nodes(q.path)]
    assert ops.count("MatMulNBits") == 2 and "Gemm" not in ops and ops.count("MatMul") == 1
    assert q.lineage[-1].params["kept_float"] == {"matmul_0": "8 input features (fewer than 16)"}
    feed = {"x": rng.standard_normal((16, 8)).astype(np.float32)}
    ref, out = open_runtime(art).run(feed)["logits"], open_runtime(q).run(feed)["logits"]
    assert np.abs(out - ref).max() < 0.02 * np.abs(ref).max()


def _conv_only(path: Path) -> Path:
    """A conv net with no MatMul/Gemm at all: Conv -> Relu -> Conv -> GlobalAveragePool -> Flatten."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array((rng.standard_normal(s) * 0.1).astype(np.float32), n)
             for n, s in (("w1", (8, 3, 3, 3)), ("w2", (4, 8, 1, 1)))]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c1"], ["r"]),
             helper.make_node("Conv", ["r", "w2"], ["c2"]), helper.make_node("GlobalAveragePool", ["c2"], ["p"]),
             helper.make_node("Flatten", ["p"], ["logits"])]
    graph = helper.make_graph(nodes, "convnet", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 16, 16])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("case,args,message", [
    ("conv-only", ["--method", "int4"], "quantizes the weights of MatMul/Gemm .*has none with a constant weight.*"
                                        "--method static"),
    ("group-48", ["--method", "int4", "--group-size", "48"], "--group-size 48 is not supported: groups are a power of two"),
    ("group-word", ["--method", "int4", "--group-size", "big"], "--group-size must be an integer"),
    ("litert", ["--method", "int4", "--backend", "litert"], "int4 .weight-only. is not available for LiteRT.*onnxruntime or openvino"),
], ids=["conv-only", "group-48", "group-word", "litert"])
def test_bad_input_is_one_line_exit_2(cli, tmp_path, case, args, message):
    import re

    model = str(_conv_only(tmp_path / "conv.onnx")) if case == "conv-only" else "gpt_tiny"
    r = cli("quantize", "--model", model, *args, "--bench-seconds", "1", "--out", tmp_path / "out")
    assert r.code == 2, r.err
    errors = [ln for ln in r.err.splitlines() if ln.startswith("dlcompress: error:")]
    assert len(errors) == 1 and re.search(message, errors[0]), r.err
    assert "Traceback" not in r.err and not (tmp_path / "out").exists()
