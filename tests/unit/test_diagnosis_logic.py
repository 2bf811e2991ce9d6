"""The slow-int8 diagnosis from hand-written op censuses and CPUs: each branch of its explanation, and the op
census of a real small ONNX graph (as written and as ORT optimises it)."""

from __future__ import annotations

import numpy as np
import pytest

from dlcompress.benchmarks import diagnosis
from dlcompress.benchmarks.diagnosis import (
    explain_slow_quantized,
    onnx_op_census,
    summarize_census,
)
from dlcompress.toolkit.devices import CpuInfo

X86_AVX2 = CpuInfo("Test x86", "x86_64", 4, ("avx2", "f16c"))
X86_VNNI = CpuInfo("Test x86 VNNI", "x86_64", 4, ("avx2", "avx512_vnni", "avx512f"))
X86_AMX = CpuInfo("Test x86 AMX", "x86_64", 4, ("amx_bf16", "amx_int8", "avx512_fp16"))
X86_BARE = CpuInfo("Old x86", "x86_64", 2, ())
ARM = CpuInfo("Test ARM", "aarch64", 8, ())

FP32 = {"Conv": 4, "Gemm": 1, "Relu": 4}  # 5 float compute ops before quantization
INT8_FUSED = {"QLinearConv": 4, "QGemm": 1, "QuantizeLinear": 1, "DequantizeLinear": 1}  # all compute in int8
BIG = 500_000_000  # MACs per item: not "tiny"


@pytest.fixture
def on_cpu(monkeypatch):
    def use(cpu: CpuInfo) -> None:
        monkeypatch.setattr(diagnosis, "cpu_info", lambda: cpu)

    return use


def explain(precision="int8", speedup=0.9, census=None, fp32=None, batch=8, macs=BIG, quant_format="qoperator"):
    return explain_slow_quantized(precision, speedup, INT8_FUSED if census is None else census,
                                  FP32 if fp32 is None else fp32, batch, macs, {"quant_format": quant_format})


def test_head_says_slower_or_not_meaningfully_faster(on_cpu):
    on_cpu(X86_VNNI)
    slower = explain(speedup=0.8)
    assert len(slower) == 1 and slower[0].startswith("int8 is slower than fp32 (0.80x): ")
    same = explain(speedup=1.03)
    assert same[0].startswith("int8 is not meaningfully faster than fp32 (1.03x): ")
    assert explain(speedup=1.0)[0].startswith("int8 is not meaningfully faster than fp32 (1.00x)")


def test_every_reason_carries_the_head(on_cpu):
    on_cpu(X86_AVX2)
    reasons = explain(census={"Conv": 2, "ConvInteger": 3}, batch=1, macs=1_000_000, quant_format="qdq")
    assert len(reasons) == 4  # no VNNI, float ops left, ConvInteger, tiny model
    assert all(r.startswith("int8 is slower than fp32 (0.90x): ") for r in reasons)


def test_x86_without_vnni_lists_the_flags(on_cpu):
    on_cpu(X86_AVX2)
    (reason,) = explain()
    assert "no VNNI/AMX int8 dot-product instructions (flags: avx2, f16c)" in reason
    assert "about fp32 speed" in reason
    on_cpu(X86_BARE)
    assert "(flags: none)" in explain()[0]


@pytest.mark.parametrize("cpu", [X86_VNNI, X86_AMX, ARM], ids=["vnni", "amx", "arm"])
def test_no_vnni_reason_where_int8_dot_products_exist_or_cpu_is_not_x86(on_cpu, cpu):
    on_cpu(cpu)
    assert not any("VNNI" in r for r in explain())


def test_float_compute_left_after_optimisation(on_cpu):
    on_cpu(X86_VNNI)
    census = {"Conv": 2, "FusedConv": 1, "QLinearConv": 1, "Gemm": 0, "DequantizeLinear": 6, "QuantizeLinear": 5}
    (reason,) = explain(census=census)
    assert "3 of 5 Conv/MatMul/Gemm still run in fp32" in reason
    assert "(6 DequantizeLinear, 5 QuantizeLinear left at run time)" in reason
    assert "QDQ form was not fused" not in reason  # qoperator: no advice to switch format
    (qdq,) = explain(census=census, quant_format="qdq")
    assert qdq.endswith("left at run time): the QDQ form was not fused; use --quant-format qoperator")


def test_float_ops_without_q_dq_counts_say_zero(on_cpu):
    on_cpu(X86_VNNI)
    (reason,) = explain(census={"MatMul": 1}, fp32={"MatMul": 1})
    assert "1 of 1 Conv/MatMul/Gemm" in reason and "(0 DequantizeLinear, 0 QuantizeLinear" in reason


def test_no_float_reason_when_fp32_graph_had_no_compute_ops(on_cpu):
    on_cpu(X86_VNNI)
    reasons = explain(census={"Conv": 1}, fp32={"Relu": 3})
    assert not any("still run in fp32" in r for r in reasons)
    assert "no structural cause found" in reasons[0]


def test_conv_integer_points_to_static(on_cpu):
    on_cpu(X86_VNNI)
    (reason,) = explain(census={"ConvInteger": 3, "MatMulInteger": 1})
    assert "3 ConvInteger nodes" in reason and "use --method static for CNNs" in reason


@pytest.mark.parametrize("macs,batch,tiny", [
    (1_000_000, 1, True), (49_999_999, 1, True), (6_000_000, 8, True), (50_000_000, 1, False), (7_000_000, 8, False),
])
def test_tiny_model_threshold_is_macs_times_batch(on_cpu, macs, batch, tiny):
    on_cpu(X86_VNNI)
    reasons = explain(macs=macs, batch=batch)
    assert any("the model is tiny" in r for r in reasons) is tiny
    if tiny:
        assert f"({macs / 1e6:.1f} MMACs per item at batch {batch})" in reasons[0]


def test_batch_one_advice_only_when_nothing_else_explains_it(on_cpu):
    on_cpu(X86_VNNI)
    (reason,) = explain(batch=1)
    assert reason.endswith("batch 1 leaves the int8 kernels little work per call; try --batch 8")
    (reason,) = explain(batch=1, macs=None)  # unknown MACs: no tiny verdict, batch advice still given
    assert "try --batch 8" in reason
    on_cpu(X86_AVX2)
    reasons = explain(batch=1)
    assert len(reasons) == 1 and "VNNI" in reasons[0]  # another reason: no batch advice


def test_nothing_found_says_noise(on_cpu):
    on_cpu(X86_VNNI)
    (reason,) = explain(batch=8, macs=BIG)
    assert "no structural cause found" in reason and "machine noise" in reason
    (reason,) = explain(batch=8, macs=None)
    assert "no structural cause found" in reason


def test_fp16_on_a_cpu_without_native_fp16(on_cpu):
    on_cpu(X86_AVX2)
    census = {"Cast": 7, "Conv": 4}
    (reason,) = explain("fp16", 0.5, census=census, batch=1, macs=1000)
    assert reason.startswith("fp16 is slower than fp32 (0.50x): this CPU has no native fp16 arithmetic "
                             "(flags: avx2, f16c)")
    assert "via 7 Cast nodes" in reason and "use int8 on x86" in reason
    # int8 reasons (tiny model, float ops, VNNI) are not given for fp16
    assert "tiny" not in reason and "VNNI" not in reason


@pytest.mark.parametrize("cpu", [ARM, X86_AMX], ids=["arm", "avx512_fp16"])
def test_fp16_on_a_cpu_with_native_fp16_gives_the_head_only(on_cpu, cpu):
    on_cpu(cpu)
    assert explain("fp16", 1.02, census={"Cast": 2}) == ["fp16 is not meaningfully faster than fp32 (1.02x)"]


def test_summarize_census_keeps_speed_relevant_nonzero_counts():
    census = {"Conv": 3, "QLinearConv": 2, "Relu": 9, "Cast": 0, "Transpose": 1, "MaxPool": 2, "DequantizeLinear": 4,
              "com.microsoft.Foo": 1, "ReorderInput": 1}
    assert summarize_census(census) == {"Conv": 3, "QLinearConv": 2, "DequantizeLinear": 4, "Transpose": 1,
                                        "ReorderInput": 1}
    assert summarize_census({}) == {}


def _conv_relu_model(path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])],
        "conv_relu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_census_of_a_real_graph_as_written_and_as_ort_runs_it(tmp_path):
    path = _conv_relu_model(tmp_path / "conv_relu.onnx")
    assert onnx_op_census(path, optimized=False) == {"Conv": 1, "Relu": 1}
    optimized = onnx_op_census(path)
    # ORT fuses Conv+Relu (FusedConv) and may change layout (NCHWc); either way one float conv is left
    assert sum(optimized.get(op, 0) for op in diagnosis.FLOAT_COMPUTE_OPS) == 1, optimized
    assert "Relu" not in optimized, optimized
    assert set(summarize_census(optimized)) <= set(optimized)
