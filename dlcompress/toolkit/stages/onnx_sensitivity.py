"""Per-layer int8 sensitivity of an ONNX model, measured with ONNX Runtime's own quantizer and debugging tools.

For every quantizable layer (Conv, MatMul, Gemm ...):

- **activation SQNR** (dB) of its output between the float model and the fully int8 (QDQ) model, and the weight
  SQNR, from ``onnxruntime.quantization.qdq_loss_debug`` (ORT's own loss debugger);
- its **activation range** over the calibration data (min, max, and how far the max sits above the 99.9th
  percentile: a long tail is what makes min-max int8 ranges coarse);
- **kept float**: the score when every layer but this one is int8 (the recovery it buys);
- **only int8**: the score when only this layer is int8 (the damage it does alone).

A layer's int8 includes the quantization of its inputs (ORT's QDQ places it there), so the damage of an outlier
tensor shows at the layer that consumes it. The score is the task metric on labelled held-out data, or top-1 agreement with the float model without labels
(cosine similarity for a model that does not classify). The layers worth keeping in float are those whose
``kept float`` score recovers most of the drop.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlcompress.toolkit.progress import progress_bar

QUANTIZABLE_OPS = ("Conv", "MatMul", "Gemm", "ConvTranspose")
Score = Callable[[Path], float]
"""An ONNX file -> its score on held-out data (higher is better)."""


@dataclass
class LayerSensitivity:
    """One layer's sensitivity; drops are the float model's score minus the variant's (positive = worse)."""

    node: str
    op_type: str
    output: str
    activation_sqnr_db: float | None = None
    weight_sqnr_db: float | None = None
    range_min: float | None = None
    range_max: float | None = None
    tail_ratio: float | None = None
    """max |activation| / its 99.9th percentile: >> 1 means a few outliers stretch the int8 range."""
    drop_kept_float: float | None = None
    drop_only_int8: float | None = None
    module: str = ""
    """The torch module the layer was exported from (``layer1.0.conv1``), where the exporter recorded it."""

    @property
    def label(self) -> str:
        return self.module or self.node


@dataclass
class Sensitivity:
    """The per-layer table plus the reference scores it is measured against."""

    score_name: str
    float_score: float
    int8_score: float
    layers: list[LayerSensitivity] = field(default_factory=list)
    calibration_samples: int = 0
    evaluation: str = ""

    @property
    def int8_drop(self) -> float:
        return self.float_score - self.int8_score

    def ranked(self) -> list[LayerSensitivity]:
        """Layers by how much keeping them in float recovers (most first); unmeasured ones by activation SQNR."""
        def key(layer: LayerSensitivity) -> tuple[float, float]:
            recovered = self.int8_drop - layer.drop_kept_float if layer.drop_kept_float is not None else -math.inf
            return (-recovered, layer.activation_sqnr_db if layer.activation_sqnr_db is not None else math.inf)
        return sorted(self.layers, key=key)

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score_name, "float": round(self.float_score, 6), "int8": round(self.int8_score, 6),
                "int8_drop": round(self.int8_drop, 6), "calibration_samples": self.calibration_samples,
                "evaluation": self.evaluation,
                "layers": [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(layer).items()}
                           for layer in self.ranked()]}


FUSED_ACTIVATIONS = ("Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish")
"""Activations ORT's QDQ quantizer folds into the layer before them: the layer's int8 output is theirs."""


def quantizable_nodes(path: Path) -> list[tuple[str, str, str]]:
    """(node name, op type, quantized output) of every node ORT quantizes for compute, in graph order; the output
    is the layer's own, or that of the activation fused into it (Conv -> Relu: the Relu's)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    consumers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    found = []
    for n in graph.node:
        if n.op_type not in QUANTIZABLE_OPS or not n.name:
            continue
        out = n.output[0]
        while len(consumers.get(out, [])) == 1 and consumers[out][0].op_type in FUSED_ACTIVATIONS:
            out = consumers[out][0].output[0]
        found.append((n.name, n.op_type, out))
    return found


def module_names(graph: Any) -> dict[str, str]:
    """Node name -> the torch module it was exported from: the dynamo exporter's ``pkg.torch.onnx.name_scopes``
    metadata (``['', 'layer1', 'layer1.0', 'layer1.0.bn1', '_native_batch_norm...']``: the last module; a conv
    that BatchNorm was folded into carries the BatchNorm's), or the TorchScript exporter's node name
    (``/features/features.0/features.0.0/Conv``)."""
    import ast

    names: dict[str, str] = {}
    for n in graph.node:
        scopes = next((p.value for p in n.metadata_props if p.key == "pkg.torch.onnx.name_scopes"), None)
        if scopes:
            try:
                modules = [m for m in ast.literal_eval(scopes)[:-1] if m]
            except (ValueError, SyntaxError):
                modules = []
            if modules:
                names[n.name] = modules[-1]
        elif n.name.count("/") >= 2:
            names[n.name] = n.name.rsplit("/", 2)[-2]
    return names


def quantize_qdq(src: Path, dst: Path, feeds: Sequence[dict[str, np.ndarray]], *, exclude: Sequence[str] = (),
                 only: Sequence[str] | None = None, per_channel: bool = True, reduce_range: bool = False) -> None:
    """Static int8 (QDQ, per-channel weights) of ``src``, leaving ``exclude`` in float, or quantizing ``only``."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    from dlcompress.toolkit.progress import silenced
    from dlcompress.toolkit.stages.quantize_onnx import _reader

    with silenced("", "onnxruntime"):
        quantize_static(str(src), str(dst), _reader(list(feeds)), quant_format=QuantFormat.QDQ,
                        per_channel=per_channel, reduce_range=reduce_range, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, nodes_to_exclude=list(exclude) or None,
                        nodes_to_quantize=list(only) if only is not None else None,
                        extra_options={"CalibTensorRangeSymmetric": False})


def activation_errors(float_path: Path, qdq_path: Path, feeds: Sequence[dict[str, np.ndarray]],
                      outputs: Sequence[str], work: Path) -> tuple[dict[str, float], dict[str, tuple[float, float, float]]]:
    """SQNR (dB) of each named tensor between the float and the QDQ model, and (min, max, tail ratio) of the
    float activations, from ORT's ``qdq_loss_debug``."""
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        compute_activation_error,
        create_activation_matching,
        modify_model_output_intermediate_tensors,
    )

    from dlcompress.toolkit.stages.quantize_onnx import _reader

    aug_float, aug_qdq = work / "float.aug.onnx", work / "qdq.aug.onnx"
    modify_model_output_intermediate_tensors(str(float_path), str(aug_float))
    modify_model_output_intermediate_tensors(str(qdq_path), str(aug_qdq))
    float_acts = collect_activations(str(aug_float), _reader(list(feeds)), execution_providers=["CPUExecutionProvider"])
    qdq_acts = collect_activations(str(aug_qdq), _reader(list(feeds)), execution_providers=["CPUExecutionProvider"])
    errors = compute_activation_error(create_activation_matching(qdq_acts, float_acts))
    sqnr, ranges = {}, {}
    for name in outputs:
        if name in errors and "xmodel_err" in errors[name]:
            sqnr[name] = float(errors[name]["xmodel_err"])
        values = float_acts.get(name)
        if values:
            flat = np.concatenate([np.abs(np.asarray(v, np.float32)).ravel() for v in values])
            signed = np.concatenate([np.asarray(v, np.float32).ravel() for v in values])
            p999 = float(np.percentile(flat, 99.9)) if flat.size else 0.0
            ranges[name] = (float(signed.min()), float(signed.max()), float(flat.max() / p999) if p999 > 0 else 1.0)
    return sqnr, ranges


def weight_errors(float_path: Path, qdq_path: Path) -> dict[str, float]:
    """SQNR (dB) of each quantized weight initializer (ORT's ``qdq_loss_debug``), by weight name."""
    from onnxruntime.quantization.qdq_loss_debug import (
        compute_weight_error,
        create_weight_matching,
    )

    return {k: float(v) for k, v in compute_weight_error(create_weight_matching(str(float_path), str(qdq_path))).items()}


def sensitivity(float_path: Path, calibration: Sequence[dict[str, np.ndarray]], score: Score, score_name: str,
                evaluation: str = "", per_layer: bool = True, max_layers: int | None = None,
                reduce_range: bool = False, only_int8: bool = True) -> Sensitivity:
    """The per-layer sensitivity of ``float_path`` (already pre-processed for quantization); ``only_int8`` False
    skips the second run per layer (what accuracy control needs is the kept-float score alone)."""
    import onnx

    nodes = quantizable_nodes(float_path)
    graph = onnx.load(str(float_path), load_external_data=False).graph
    weight_of = {n.name: next((i for i in n.input[1:2]), None) for n in graph.node if n.name}
    modules = module_names(graph)
    samples = sum(len(next(iter(f.values()))) for f in calibration) if calibration else 0
    with tempfile.TemporaryDirectory(prefix="dlc-sens-") as tmp:
        work = Path(tmp)
        full = work / "int8.onnx"
        quantize_qdq(float_path, full, calibration, reduce_range=reduce_range)
        result = Sensitivity(score_name, score(float_path), score(full), calibration_samples=samples,
                             evaluation=evaluation)
        sqnr, ranges = activation_errors(float_path, full, calibration[:4], [o for _, _, o in nodes], work)
        wsqnr = weight_errors(float_path, full)
        for name, op, out in nodes:
            lo, hi, tail = ranges.get(out, (None, None, None))
            w = weight_of.get(name)
            result.layers.append(LayerSensitivity(name, op, out, sqnr.get(out), wsqnr.get(w) if w else None, lo, hi,
                                                  tail, module=modules.get(name, "")))
        if per_layer:
            chosen = sorted(result.layers, key=lambda layer: layer.activation_sqnr_db
                            if layer.activation_sqnr_db is not None else math.inf)[:max_layers or len(result.layers)]
            runs = 2 if only_int8 else 1
            with progress_bar(f"per-layer sensitivity ({len(chosen)} layers, {runs} quantization(s) each)", len(chosen)) as bar:
                for layer in chosen:
                    kept, alone = work / "kept.onnx", work / "alone.onnx"
                    quantize_qdq(float_path, kept, calibration, exclude=[layer.node], reduce_range=reduce_range)
                    layer.drop_kept_float = result.float_score - score(kept)
                    if only_int8:
                        quantize_qdq(float_path, alone, calibration, only=[layer.node], reduce_range=reduce_range)
                        layer.drop_only_int8 = result.float_score - score(alone)
                    bar.advance()
    return result


def markdown(result: Sensitivity, top: int = 15) -> str:
    """The table of the ``top`` most sensitive layers."""
    lines = [f"Float {result.score_name} {result.float_score:.4f}, all int8 {result.int8_score:.4f} "
             f"(drop {result.int8_drop:+.4f}); {result.evaluation}; calibrated on {result.calibration_samples} samples.",
             "",
             "| layer | op | kept float: drop | only int8: drop | act. SQNR dB | weight SQNR dB | range | tail |",
             "|---|---|---|---|---|---|---|---|"]
    for layer in result.ranked()[:top]:
        rng = "" if layer.range_min is None else f"[{layer.range_min:.3g}, {layer.range_max:.3g}]"
        lines.append(f"| `{layer.label}` | {layer.op_type} | {_f(layer.drop_kept_float)} | {_f(layer.drop_only_int8)} | "
                     f"{_f(layer.activation_sqnr_db, 1)} | {_f(layer.weight_sqnr_db, 1)} | {rng} | {_f(layer.tail_ratio, 1)} |")
    return "\n".join(lines)


def _f(v: float | None, digits: int = 4) -> str:
    return "" if v is None else f"{v:+.{digits}f}" if digits == 4 else f"{v:.{digits}f}"


def plot(result: Sensitivity, path: Path, top: int = 60) -> Path:
    """A bar chart: per layer (the first ``top`` in graph order: every layer of a MobileNetV2's 53), the drop when
    only it stays float (vs the all-int8 drop) and its SQNR."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = [layer for layer in result.layers][: max(top, 1)]
    names = [layer.label for layer in layers]
    x = np.arange(len(layers))
    fig, (a, b) = plt.subplots(2, 1, figsize=(max(8, 0.35 * len(layers) + 3), 7), sharex=True)
    kept = [layer.drop_kept_float if layer.drop_kept_float is not None else np.nan for layer in layers]
    alone = [layer.drop_only_int8 if layer.drop_only_int8 is not None else np.nan for layer in layers]
    a.bar(x - 0.2, kept, 0.4, label="all int8 but this layer")
    a.bar(x + 0.2, alone, 0.4, label="only this layer int8")
    a.axhline(result.int8_drop, color="k", linestyle="--", linewidth=1, label=f"all int8 ({result.int8_drop:+.3f})")
    a.set_ylabel(f"{result.score_name} drop vs float")
    a.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0))  # outside: it hid the first bars
    a.set_title("int8 sensitivity per layer (graph order)")
    b.bar(x, [layer.activation_sqnr_db if layer.activation_sqnr_db is not None else np.nan for layer in layers],
          color="tab:green")
    b.set_ylabel("activation SQNR (dB)")
    b.set_xticks(x, names, rotation=70, ha="right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
