"""Why is a quantized model not faster? Answers from evidence: the optimised graph ORT actually runs,
the CPU's instruction sets, the batch and the model's size. No guesswork."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

from dlcompress.toolkit.devices import cpu_info

FLOAT_COMPUTE_OPS = ("Conv", "Gemm", "MatMul", "FusedConv", "FusedGemm", "FusedMatMul", "NchwcConv")
INT8_COMPUTE_OPS = ("QLinearConv", "QLinearMatMul", "MatMulInteger", "ConvInteger", "QGemm", "DynamicQuantizeMatMul",
                    "MatMulIntegerToFloat", "QAttention", "DynamicQuantizeLinear")


def onnx_op_census(path: Path, threads: int = 1, optimized: bool = True, float16: bool = False) -> dict[str, int]:
    """Op types (with domain prefix for non-default domains) of the graph ORT really executes (optimized with the
    timed session's options: an fp16 graph at the extended level)."""
    import onnx

    if not optimized:
        model = onnx.load(str(path), load_external_data=False)
        return dict(Counter(_op_name(n) for n in model.graph.node))
    import onnxruntime as ort

    from dlcompress.toolkit.runtimes.onnxruntime_runtime import session_options

    with tempfile.TemporaryDirectory(prefix="dlc-census-") as tmp:
        opt = Path(tmp) / "optimized.onnx"
        so = session_options(threads, opt, float16=float16)
        so.add_session_config_entry("session.save_model_format", "ONNX")
        ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        model = onnx.load(str(opt), load_external_data=False)
    return dict(Counter(_op_name(n) for n in model.graph.node))


def _op_name(node) -> str:  # noqa: ANN001
    return node.op_type


def explain_slow_quantized(
    precision: str,
    speedup: float,
    census: dict[str, int],
    fp32_census: dict[str, int],
    batch: int,
    macs: int | None,
    quant_params: dict[str, object],
) -> list[str]:
    """Reasons, each backed by a count or a flag, for a quantized variant that is not faster than fp32."""
    cpu = cpu_info()
    reasons: list[str] = []
    head = f"{precision} is {'slower than' if speedup < 1 else 'not meaningfully faster than'} fp32 ({speedup:.2f}x)"
    float_left = sum(census.get(op, 0) for op in FLOAT_COMPUTE_OPS)
    float_before = sum(fp32_census.get(op, 0) for op in FLOAT_COMPUTE_OPS)
    if precision == "fp16":
        casts = census.get("Cast", 0)
        if not cpu.has_native_fp16:
            reasons.append(f"this CPU has no native fp16 arithmetic (flags: {', '.join(cpu.flags) or 'none'}): "
                           f"ONNX Runtime's CPU kernels run fp16 models via {casts} Cast nodes and fp32 math; "
                           "fp16 pays off on GPUs and ARM CPUs, use int8 on x86")
        return [f"{head}: " + r for r in reasons] or [head]
    if quant_params.get("op") == "MatMulNBits":  # weight-only: int4/int8 weights, float activations
        nbits = census.get("MatMulNBits", 0)
        reasons.append(f"weight-only {quant_params.get('method')}: {nbits} MatMulNBits read 4/8-bit weights "
                       "(saving weight memory and traffic); it speeds up matmuls that wait on reading their weights "
                       "(large layers, few tokens per call), less so many tokens per call, where compute dominates; "
                       f"the {float_left} MatMul between activations (attention) stay fp32")
        if macs is not None and macs * batch < 50_000_000:
            reasons.append(f"the model is tiny ({macs / 1e6:.1f} MMACs per item at batch {batch}): its weights fit "
                           "in cache, so there is no weight traffic to save and the dequantization is extra work")
        return [f"{head}: {r}" for r in reasons]
    if cpu.is_x86 and not cpu.has_vnni:
        reasons.append("the CPU has no VNNI/AMX int8 dot-product instructions (flags: "
                       f"{', '.join(cpu.flags) or 'none'}), so int8 convolutions run at about fp32 speed")
    if float_before and float_left:
        deq = census.get("DequantizeLinear", 0)
        reasons.append(f"{float_left} of {float_before} Conv/MatMul/Gemm still run in fp32 after ORT's graph "
                       f"optimisation ({deq} DequantizeLinear, {census.get('QuantizeLinear', 0)} QuantizeLinear "
                       "left at run time)" + (": the QDQ form was not fused; use --quant-format qoperator"
                                               if quant_params.get("quant_format") == "qdq" else ""))
    if census.get("ConvInteger", 0):
        reasons.append(f"{census['ConvInteger']} ConvInteger nodes: dynamic quantization re-quantizes activations "
                       "at every call and ORT's ConvInteger kernel is slow on CPU; use --method static for CNNs")
    if macs is not None and macs * batch < 50_000_000:
        reasons.append(f"the model is tiny ({macs / 1e6:.1f} MMACs per item at batch {batch}): per-call overhead "
                       "and the Quantize/Dequantize at the edges dominate; int8 gains show on larger models or batches")
    elif batch == 1 and not reasons:
        reasons.append("batch 1 leaves the int8 kernels little work per call; try --batch 8")
    if not reasons:
        reasons.append("no structural cause found in the graph or CPU flags; the difference may be machine noise "
                       "(compare the p90 columns, or rerun)")
    return [f"{head}: {r}" for r in reasons]


def summarize_census(census: dict[str, int]) -> dict[str, int]:
    """The op counts that matter for speed (compute ops in fp32 and int8, Q/DQ, casts, layout changes)."""
    keys = (*FLOAT_COMPUTE_OPS, *INT8_COMPUTE_OPS, "MatMulNBits", "GatherBlockQuantized", "QLinearAdd", "QuantizeLinear", "DequantizeLinear", "Cast", "Transpose",
            "ReorderInput", "ReorderOutput")
    return {k: census[k] for k in keys if census.get(k)}
