"""OpenVINO quantization with NNCF: same format in, same format out (an IR in, an IR out).

- ``static`` int8: ``nncf.quantize`` on the ``ov.Model`` with the real calibration feeds (``nncf.Dataset``),
  one sample per item so ``subset_size`` counts samples.
- accuracy-controlled int8 (``max_drop``): ``nncf.quantize_with_accuracy_control`` with a top-1 validation
  function on labelled held-out batches; NNCF puts back to float the layers that cost the most until the drop
  is within ``max_drop`` (it validates with ``INFERENCE_PRECISION_HINT=f32``, so bf16 noise is not counted).
- ``fp16``: the IR saved with fp16 weights (``compress_to_fp16``); the CPU computes in the runtime's precision.
- weight-only ``int4`` / ``int8-weights``: ``nncf.compress_weights`` (modes INT4_SYM/INT4_ASYM/INT8_SYM/INT8_ASYM,
  ``group_size``, ``ratio``: the share of layers in 4 bits, the most sensitive rest in 8 bits); the embeddings and
  the LM head stay 8-bit (NNCF's backup mode) unless ``embeddings="int4"`` (``all_layers``); data-aware
  ``awq``, ``scale_estimation`` and ``gptq`` run on the calibration samples. The CPU plugin runs the compressed
  MatMuls with on-the-fly dequantization (activations stay float).

NNCF inserts FakeQuantize nodes; OpenVINO's CPU plugin runs the quantized convolutions and matmuls in int8.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from dlcompress.toolkit.artifact import Artifact, StageRecord
from dlcompress.toolkit.calibration import Calibration
from dlcompress.toolkit.errors import (
    QuantizationError,
    UnsupportedError,
    describe_failure,
)
from dlcompress.toolkit.progress import silenced
from dlcompress.toolkit.scope import Scope
from dlcompress.toolkit.stages.quantize import (
    ACCURACY_CONTROLLED,
    ADVANCED_OPTIONS,
    OPTION_CHECKS,
    QUANTIZERS,
    WEIGHT_ONLY,
    HeldOut,
    QuantizeOptions,
    choose_group,
    reject_onnxruntime_flags,
)

PRESETS = ("performance", "mixed")
MODEL_TYPES = ("auto", "cnn", "transformer")
METHODS = ("static", "fp16", "int4", "int8-weights")
NNCF_WEIGHT_ALGORITHMS = ("awq", "scale-estimation", "gptq")
# torch module classes a scope may name, and the OpenVINO op types they become
TORCH_TYPE_ALIASES: dict[str, tuple[str, ...]] = {
    "Conv1d": ("Convolution", "GroupConvolution"), "Conv2d": ("Convolution", "GroupConvolution"),
    "Conv3d": ("Convolution", "GroupConvolution"), "Linear": ("MatMul",),
    "ConvTranspose2d": ("ConvolutionBackpropData", "GroupConvolutionBackpropData"),
}
QUANTIZABLE = ("Convolution", "GroupConvolution", "MatMul", "ConvolutionBackpropData")


@dataclass(frozen=True)
class OpenVinoQuantizeOptions:
    """NNCF's own options. ``preset``: ``performance`` (symmetric activations) or ``mixed`` (asymmetric
    activations); None = NNCF's choice for the model type. ``ignored_scope``: scope strings (``NODE``,
    ``re:PATTERN``, ``type:OPTYPE``) naming OpenVINO nodes to leave in float; ``type:`` also takes torch
    classes (``type:Linear`` = MatMul). ``model_type``: ``transformer`` keeps attention softmax/norms in
    float; ``auto`` = transformer when the graph has a Softmax."""

    format: ClassVar[str] = "openvino"
    flags: ClassVar[str] = "--preset, --no-fast-bias-correction and --ignore"

    preset: str | None = None
    fast_bias_correction: bool = True
    ignored_scope: tuple[str, ...] = ()
    model_type: str = "auto"

    def __post_init__(self) -> None:
        if self.preset is not None and self.preset not in PRESETS:
            raise UnsupportedError(f"--preset {self.preset!r} is not supported", f"use one of: {', '.join(PRESETS)}")
        if self.model_type not in MODEL_TYPES:
            raise UnsupportedError(f"model type {self.model_type!r} is not supported", f"use one of: {', '.join(MODEL_TYPES)}")
        Scope.parse(self.ignored_scope)  # a bad regular expression is a user error now, not after the export

    @property
    def scope(self) -> Scope:
        return Scope.parse(self.ignored_scope)


def check(options: QuantizeOptions) -> None:
    """Reject ONNX-Runtime-only options instead of silently ignoring them."""
    if options.method not in METHODS:
        raise UnsupportedError(f"--method {options.method} is not available for OpenVINO",
                               "OpenVINO int8 is calibrated (--method static, NNCF), or use --method fp16, or "
                               "weight-only --method int4 / int8-weights")
    for a in options.algorithms:
        if a not in NNCF_WEIGHT_ALGORITHMS:
            raise UnsupportedError(f"--weight-algorithm {a} is not one of NNCF's", "use rtn, awq, scale-estimation or gptq "
                                   "(joined with +), or --backend onnxruntime for hqq")
    if options.method == "int8-weights" and options.algorithms:
        raise UnsupportedError(f"NNCF's --weight-algorithm {options.algorithm} applies to 4-bit weights",
                               "use --method int4, or --weight-algorithm rtn")
    if options.method == "int8-weights" and options.group_size not in (None, 0):
        raise UnsupportedError("NNCF compresses int8 weights per output channel, not in groups",
                               "drop --group-size, or use --method int4")
    reject_onnxruntime_flags(options, "OpenVINO/NNCF", "drop it; NNCF quantizes weights per channel with min-max "
                             "ranges; see --preset", ("--quant-format", "--calibration", "--no-per-channel", "--reduce-range"))


def options_from_flags(flags: dict[str, Any]) -> OpenVinoQuantizeOptions | None:
    """``--preset``, ``--fast-bias-correction/--no-...``, ``--ignore`` -> the option group (None if none is set)."""
    preset, fast, ignore = flags.get("preset"), flags.get("fast_bias_correction"), tuple(flags.get("ignore") or ())
    if preset is None and fast is None and not ignore:
        return None
    return OpenVinoQuantizeOptions(preset, True if fast is None else fast, ignore)


def _advanced(options: QuantizeOptions) -> OpenVinoQuantizeOptions:
    return options.advanced if isinstance(options.advanced, OpenVinoQuantizeOptions) else OpenVinoQuantizeOptions()


# ---------------------------------------------------------------------------------------------------- helpers
def read_model(artifact: Artifact) -> Any:
    import openvino as ov

    return ov.Core().read_model(str(artifact.path))


def samples(feeds: Calibration) -> list[dict[str, np.ndarray]]:
    """Batched feeds as one-sample items (batch dim kept), so NNCF's ``subset_size`` counts samples."""
    items = []
    for feed in feeds:
        n = len(next(iter(feed.values())))
        items += [{k: v[i:i + 1] for k, v in feed.items()} for i in range(n)]
    return items


def ignored_scope(model: Any, scope: Scope) -> Any:
    """The scope as an ``nncf.IgnoredScope`` over the model's nodes; a rule that matches nothing is a user error."""
    import nncf

    if not scope:
        return None
    ops = list(model.get_ordered_ops())
    names = {op.get_friendly_name() for op in ops}
    types = {op.get_type_name() for op in ops}
    hint = ("node names look like " + ", ".join(sorted(op.get_friendly_name() for op in ops
                                                       if op.get_type_name() in QUANTIZABLE)[:3])
            + f"; op types here: {', '.join(sorted(types & {*QUANTIZABLE, 'Add', 'Multiply', 'Softmax'}))}")
    for n in scope.names:
        if n not in names:
            raise UnsupportedError(f"--ignore {n!r} names no node of the OpenVINO model", hint)
    patterns = [f"(?:{p})$" for p in scope.patterns]  # whole-name match, as everywhere in dlcompress
    for p, full in zip(scope.patterns, patterns):
        if not any(re.match(full, n) for n in names):
            raise UnsupportedError(f"--ignore re:{p} matches no node of the OpenVINO model", hint)
    ov_types: list[str] = []
    for t in scope.types:
        found = [x for x in TORCH_TYPE_ALIASES.get(t, (t,)) if x in types]
        if not found:
            raise UnsupportedError(f"--ignore type:{t} matches no op of the OpenVINO model", hint)
        ov_types += found
    return nncf.IgnoredScope(names=list(scope.names), patterns=patterns, types=sorted(set(ov_types)), validate=False)


ATTENTION_OPS = ("Softmax", "ScaledDotProductAttention")
RECURRENT_OPS = ("LSTMSequence", "GRUSequence", "RNNSequence", "LSTMCell", "GRUCell", "RNNCell")
"""Ops whose gates NNCF's default (performance, symmetric activations) preset breaks: measured on EasyOCR's CRNN
(a BiLSTM), CER 0.0045 in fp32, 1.02 with the performance preset, 0.0055 with mixed."""


def model_type(model: Any, choice: str) -> tuple[Any, str]:
    """NNCF's ModelType for ``choice`` (``auto``: transformer when the graph has attention: a Softmax, or the fused
    ``ScaledDotProductAttention`` op that OpenVINO's torch frontend makes of ``F.scaled_dot_product_attention``)."""
    import nncf

    if choice == "auto":
        attention = any(op.get_type_name().startswith(ATTENTION_OPS) for op in model.get_ordered_ops())
        choice = "transformer" if attention else "cnn"
    return (nncf.ModelType.TRANSFORMER if choice == "transformer" else None), choice


def count_ops(model: Any, op_type: str) -> int:
    return sum(1 for op in model.get_ordered_ops() if op.get_type_name() == op_type)


def top1(compiled: Any, data: Any) -> float:
    """Top-1 of a compiled model over (feed, labels) batches: NNCF's validation function."""
    correct = total = 0
    out = compiled.outputs[0]
    for feed, labels in data:
        logits = compiled(feed)[out]
        correct += int(np.sum(np.argmax(logits, axis=1) == labels))
        total += len(labels)
    return correct / max(total, 1)


def _f32_top1(model: Any, held_out: HeldOut) -> float:
    import openvino as ov

    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return top1(compiled, zip(held_out.feeds, held_out.labels))


def _save(artifact: Artifact, model: Any, out_path: Path, params: dict[str, Any], effect: dict[str, Any],
          start: float, precision: str, fp16: bool = False) -> Artifact:
    from dlcompress.toolkit.openvino_ir import save

    save(model, out_path, compress_to_fp16=fp16)
    before = artifact.size_bytes or 0
    after = out_path.stat().st_size + out_path.with_suffix(".bin").stat().st_size
    effect = {"size_bytes_before": before, "size_bytes_after": after,
              "size_ratio": round(after / before, 4) if before else None, **effect}
    record = StageRecord("quantize", params, effect, seconds=round(time.perf_counter() - start, 2))
    return artifact.derive(record, path=out_path, precision=precision)


def _common(artifact: Artifact, options: QuantizeOptions, calibration: Calibration) -> tuple[Any, dict, dict]:
    """The model, NNCF keyword arguments and the lineage parameters shared by both int8 modes."""
    import nncf

    check(options)
    adv = _advanced(options)
    model = read_model(artifact)
    items = samples(calibration)
    if not items:
        raise QuantizationError("OpenVINO int8 needs calibration samples", "pass --data with images")
    mtype, mtype_name = model_type(model, adv.model_type)
    kwargs: dict[str, Any] = {
        "subset_size": min(options.samples, len(items)), "fast_bias_correction": adv.fast_bias_correction,
        "ignored_scope": ignored_scope(model, adv.scope), "model_type": mtype,
        "preset": None if adv.preset is None else nncf.QuantizationPreset(adv.preset),
    }
    recurrent = sorted({op.get_type_name() for op in model.get_ordered_ops()} & set(RECURRENT_OPS))
    if adv.preset is None and recurrent:  # symmetric activations wreck the LSTM's gates (EasyOCR CER 0.0045 -> 1.02)
        kwargs["preset"] = nncf.QuantizationPreset.MIXED
    preset = adv.preset or ("mixed" if mtype_name == "transformer" or recurrent else "performance")
    params: dict[str, Any] = {
        "backend": "openvino", "tool": f"nncf {nncf.__version__}", "method": "static", "preset": preset,
        "weights": "int8 symmetric, per channel",
        "activations": "int8 " + ("symmetric" if preset == "performance" else "asymmetric") + ", per tensor",
        "calibration_samples": kwargs["subset_size"], "fast_bias_correction": adv.fast_bias_correction,
        "model_type": mtype_name + (" (auto)" if adv.model_type == "auto" else ""),
        "ignored_scope": adv.scope.strings(),
    }
    if adv.preset is None and recurrent:
        params["preset"] = f"mixed (auto: {', '.join(recurrent)})"
    return model, kwargs, params


def _failed(e: Exception, what: str) -> QuantizationError:
    return QuantizationError(f"NNCF {what} failed: {describe_failure(e)}",
                             "try --preset mixed, or --ignore the failing layers")


def weight_features(model: Any) -> dict[str, int]:
    """MatMul name -> input features (K) of each MatMul whose weight is a constant (through a Convert)."""
    found = {}
    for op in model.get_ordered_ops():
        if op.get_type_name() != "MatMul":
            continue
        src = op.input(1).get_source_output().get_node()
        if src.get_type_name() == "Convert":
            src = src.input(0).get_source_output().get_node()
        shape = src.get_output_partial_shape(0) if src.get_type_name() == "Constant" else None
        if shape is None or shape.rank.get_length() < 2 or not shape.is_static:
            continue
        dims = [d.get_length() for d in shape]
        found[op.get_friendly_name()] = dims[-1] if op.get_attributes().get("transpose_b") else dims[-2]
    return found


def quantize_openvino_weights(artifact: Artifact, options: QuantizeOptions, calibration: Calibration | None,
                              out_path: Path) -> Artifact:
    """Weight-only int4 / int8 of an OpenVINO IR with ``nncf.compress_weights``."""
    import nncf

    check(options)
    start = time.perf_counter()
    adv = _advanced(options)
    model = read_model(artifact)
    features = weight_features(model)
    if not features:
        raise UnsupportedError(f"--method {options.method} compresses the weights of MatMul (Linear) layers; "
                               f"{artifact.spec.name} has none with a constant weight",
                               "use --method static: int8 of the convolutions")
    int4 = options.method == "int4"
    sym = bool(options.symmetric)
    mode = getattr(nncf.CompressWeightsMode, f"INT{4 if int4 else 8}_{'SYM' if sym else 'ASYM'}")
    kwargs: dict[str, Any] = {"mode": mode, "ignored_scope": ignored_scope(model, adv.scope)}
    params: dict[str, Any] = {"backend": "openvino", "tool": f"nncf {nncf.__version__}", "method": options.method,
                              "api": "nncf.compress_weights", "mode": mode.value,
                              "weights": f"int{4 if int4 else 8} {'symmetric' if sym else 'asymmetric'}",
                              "activations": "float", "algorithm": options.algorithm,
                              "ignored_scope": adv.scope.strings()}
    if int4:
        # NNCF's own rule: the first embedding and the last MatMul (the LM head) are not counted as 4-bit layers
        group, how = choose_group(options, features)
        how = how.replace("per layer", "per channel")  # NNCF has one group size for all layers
        kwargs.update(group_size=-1 if group is None else group, ratio=1.0 if options.ratio is None else options.ratio,
                      all_layers=options.embeddings == "int4",
                      backup_mode=nncf.BackupMode.NONE if options.embeddings == "float" else nncf.BackupMode.INT8_ASYM)
        params.update(group_size=group if group is not None else "per channel", group_size_choice=how,
                      ratio=kwargs["ratio"], embeddings_and_head=options.embeddings,
                      backup_mode=kwargs["backup_mode"].value)
        if options.ratio is not None and options.ratio < 1:
            params["sensitivity"] = ("hessian_input_activation" if calibration is not None and options.needs_calibration
                                     else "weight_quantization_error")
    items = samples(calibration) if calibration is not None and options.needs_calibration else []
    if options.needs_calibration:
        if not items:
            raise QuantizationError(f"--weight-algorithm {options.algorithm} needs calibration samples", "pass --data")
        kwargs.update(dataset=nncf.Dataset(items), subset_size=min(options.samples, len(items)),
                      awq="awq" in options.algorithms, scale_estimation="scale-estimation" in options.algorithms,
                      gptq="gptq" in options.algorithms)
        params["calibration_samples"] = kwargs["subset_size"]
    try:
        with silenced("nncf", "torch.utils.cpp_extension"):  # NNCF probes torch too
            compressed = nncf.compress_weights(model, **kwargs)
    except (UnsupportedError, QuantizationError):
        raise
    except Exception as e:  # noqa: BLE001 - NNCF raises many kinds
        raise QuantizationError(f"NNCF weight compression failed: {describe_failure(e)}",
                                "try --group-size 32, --weight-algorithm rtn, or --ignore the failing layers") from None
    effect = {"weight_layers": len(features), "weights": weight_precisions(compressed)}
    return _save(artifact, compressed, out_path, params, effect, start, options.precision)


def weight_precisions(model: Any) -> dict[str, int]:
    """How many MatMul and Gather weights the model stores in 4 bits, 8 bits or float: the integer Constant
    (u4/i4/u8/i8) found walking up the weight input through the decompression ops (Convert, Subtract,
    Multiply, Reshape), else float."""
    kinds = {"u4": "int4", "i4": "int4", "u8": "int8", "i8": "int8"}
    counts = {"int4": 0, "int8": 0, "float": 0}
    for op in model.get_ordered_ops():
        slot = {"MatMul": 1, "Gather": 0}.get(op.get_type_name())
        if slot is None:
            continue
        node, found, constant = op.input(slot).get_source_output().get_node(), None, False
        for _ in range(6):
            if node.get_type_name() == "Constant":
                constant = True
                found = kinds.get(node.get_output_element_type(0).get_type_name())
                break
            if node.get_type_name() not in ("Convert", "Subtract", "Multiply", "Reshape"):
                break
            node = node.input(0).get_source_output().get_node()
        if constant and node.get_output_partial_shape(0).rank.get_length() >= 2:
            counts[found or "float"] += 1
    return counts


# --------------------------------------------------------------------------------------------- quantizers
def quantize_openvino(artifact: Artifact, options: QuantizeOptions, calibration: Calibration | None,
                      out_path: Path) -> Artifact:
    """Static int8 with ``nncf.quantize`` (or fp16 weights) of an OpenVINO IR."""
    if options.weight_only:
        return quantize_openvino_weights(artifact, options, calibration, out_path)
    start = time.perf_counter()
    if options.method == "fp16":
        check(options)
        params = {"backend": "openvino", "method": "fp16", "weights": "fp16", "activations": "runtime precision"}
        return _save(artifact, read_model(artifact), out_path, params, {}, start, "fp16", fp16=True)
    import nncf

    model, kwargs, params = _common(artifact, options, calibration or [])
    try:
        with silenced("nncf", "torch.utils.cpp_extension"):  # NNCF probes torch too
            quantized = nncf.quantize(model, nncf.Dataset(samples(calibration or [])), **kwargs)
    except (UnsupportedError, QuantizationError):
        raise
    except Exception as e:  # noqa: BLE001 - NNCF raises many kinds
        raise _failed(e, "quantization") from None
    return _save(artifact, quantized, out_path, params, {"fake_quantize_nodes": count_ops(quantized, "FakeQuantize")},
                 start, "int8")


def quantize_openvino_accuracy(artifact: Artifact, options: QuantizeOptions, calibration: Calibration,
                               held_out: HeldOut, out_path: Path) -> Artifact:
    """Int8 with ``nncf.quantize_with_accuracy_control``: top-1 on ``held_out`` drops at most ``max_drop``."""
    import nncf

    if not held_out.labelled:
        raise UnsupportedError("OpenVINO's accuracy control (NNCF) needs labelled data; this data has no labels",
                               "use --backend onnxruntime, whose --max-drop works on agreement with fp32, or labelled --data")
    start = time.perf_counter()
    model, kwargs, params = _common(artifact, options, calibration)
    validation = nncf.Dataset(list(zip(held_out.feeds, held_out.labels)), lambda item: item[0])
    try:
        with silenced("nncf", "torch.utils.cpp_extension"):  # NNCF probes torch too
            quantized = nncf.quantize_with_accuracy_control(
                model, nncf.Dataset(samples(calibration)), validation, top1, max_drop=float(options.max_drop or 0),
                drop_type=nncf.DropType.ABSOLUTE, **kwargs)
    except (UnsupportedError, QuantizationError):
        raise
    except Exception as e:  # noqa: BLE001 - NNCF raises many kinds
        raise _failed(e, "accuracy-controlled quantization") from None
    before, after = _f32_top1(model, held_out), _f32_top1(quantized, held_out)
    params.update(mode="accuracy-controlled", max_drop=options.max_drop, held_out_samples=held_out.samples,
                  held_out_source=held_out.source)
    effect = {"fake_quantize_nodes": count_ops(quantized, "FakeQuantize"), "held_out_top1_fp32": round(before, 6),
              "held_out_top1_int8": round(after, 6), "held_out_drop": round(before - after, 6),
              "within_max_drop": before - after <= float(options.max_drop or 0) + 1e-9}
    return _save(artifact, quantized, out_path, params, effect, start, "int8")


QUANTIZERS.add("openvino", quantize_openvino)
WEIGHT_ONLY.add("openvino", quantize_openvino_weights)
ACCURACY_CONTROLLED.add("openvino", quantize_openvino_accuracy)
OPTION_CHECKS["openvino"] = check
ADVANCED_OPTIONS["openvino"] = options_from_flags
