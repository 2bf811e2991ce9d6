"""Accuracy-controlled int8 for ONNX Runtime (``--max-drop`` with ``--backend onnxruntime``).

1. Plain static int8 (the ONNX quantizer's own path, same format and options); if the held-out drop is within
   ``max_drop``, that is the result.
2. Otherwise every quantizable layer is ranked by how much keeping it in float recovers (the per-layer
   sensitivity of :mod:`dlcompress.toolkit.stages.onnx_sensitivity`, measured on the same held-out data).
3. Layers are kept in float in that order, one more at a time, until the drop holds: as few as possible. If none
   suffices, the best model found is kept and the lineage says the gate was missed.

The drop is on the task metric (top-1) with labels; without labels it is the share of fp32's top-1 predictions
that changed (1 - agreement), so a user without labels can still say "at most 2% of predictions may change".
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from dlcompress.toolkit.artifact import Artifact, StageRecord
from dlcompress.toolkit.calibration import Calibration
from dlcompress.toolkit.progress import progress_bar, step
from dlcompress.toolkit.stages.quantize import (
    ACCURACY_CONTROLLED,
    HeldOut,
    QuantizeOptions,
)

MAX_FLOAT_LAYERS = 12
"""Give up after keeping this many layers in float (the model would hardly be int8 any more)."""


def _outputs(path: Path, feeds: list[dict[str, np.ndarray]]) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 0
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    return np.concatenate([session.run(None, {k: v for k, v in f.items() if k in names})[0] for f in feeds])


def held_out_scorer(float_path: Path, held_out: HeldOut):  # noqa: ANN201
    """(score function ONNX file -> value, its name): top-1 on the labels, else top-1 agreement with fp32."""
    feeds = held_out.feeds
    if held_out.labels and all(y is not None for y in held_out.labels):
        labels = np.concatenate(held_out.labels)
        return (lambda p: float(np.mean(np.argmax(_outputs(p, feeds), axis=1) == labels))), "top1"
    reference = np.argmax(_outputs(float_path, feeds), axis=1)
    return (lambda p: float(np.mean(np.argmax(_outputs(p, feeds), axis=1) == reference))), "top1 agreement"


def quantize_onnx_accuracy(artifact: Artifact, options: QuantizeOptions, calibration: Calibration,
                           held_out: HeldOut, out_path: Path) -> Artifact:
    """Static int8 whose held-out drop is at most ``options.max_drop``, keeping the fewest layers in float."""
    import dataclasses

    from dlcompress.toolkit.stages.onnx_sensitivity import sensitivity
    from dlcompress.toolkit.stages.quantize_onnx import preprocess, quantize_onnx

    start = time.perf_counter()
    max_drop = float(options.max_drop or 0.0)
    plain = dataclasses.replace(options, method="static", max_drop=None)
    float_path = Path(artifact.path)  # type: ignore[arg-type]
    score, name = held_out_scorer(float_path, held_out)
    base = score(float_path)
    first = quantize_onnx(artifact, plain, calibration, out_path)
    drop = base - score(out_path)
    tried = [{"float_layers": 0, "drop": round(drop, 6)}]
    kept: list[str] = []
    best_drop, best_kept = drop, []
    if drop > max_drop:
        step(f"held-out {name} drop {drop:.4f} > {max_drop:g}: ranking layers by what keeping them in float recovers")
        feeds = list(calibration)
        with tempfile.TemporaryDirectory(prefix="dlc-aaq-", dir=out_path.parent) as tmp:
            pre = Path(tmp) / "pre.onnx"
            preprocess(float_path, pre)
            ranking = sensitivity(pre, feeds, score, name, held_out.source, only_int8=False,
                                  reduce_range=bool(first.lineage[-1].params.get("reduce_range")))
            order = [layer.node for layer in ranking.ranked()][:MAX_FLOAT_LAYERS]
            candidate = Path(tmp) / "candidate.onnx"
            with progress_bar(f"keeping layers in float until the {name} drop is <= {max_drop:g}", len(order)) as bar:
                for node in order:
                    kept.append(node)
                    excluded = dataclasses.replace(plain, advanced=None)
                    _quantize_excluding(artifact, excluded, calibration, candidate, kept, first)
                    drop = base - score(candidate)
                    tried.append({"float_layers": len(kept), "drop": round(drop, 6)})
                    bar.advance()
                    if drop < best_drop:
                        best_drop, best_kept = drop, list(kept)
                        shutil.copyfile(candidate, out_path)
                    if drop <= max_drop:
                        break
    params = dict(first.lineage[-1].params)
    params.update(mode="accuracy-controlled", max_drop=max_drop, score=name, held_out_samples=held_out.samples,
                  held_out_source=held_out.source, float_layers=best_kept, tried=tried)
    effect = {"held_out_fp32": round(base, 6), "held_out_int8": round(base - best_drop, 6),
              "held_out_drop": round(best_drop, 6), "within_max_drop": best_drop <= max_drop + 1e-9,
              "size_bytes_before": artifact.size_bytes, "size_bytes_after": out_path.stat().st_size}
    record = StageRecord("quantize", params, effect, seconds=round(time.perf_counter() - start, 2))
    return artifact.derive(record, path=out_path, precision="int8")


def _quantize_excluding(artifact: Artifact, options: QuantizeOptions, calibration: Calibration, out: Path,
                        exclude: list[str], first: Artifact) -> None:
    """The plain path's static int8 with ``exclude`` left in float (same format, per-channel, range)."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from dlcompress.toolkit.progress import silenced
    from dlcompress.toolkit.stages.quantize_onnx import (
        _reader,
        preprocess,
        symbolic_batch,
    )

    params = first.lineage[-1].params
    fmt = params.get("quant_format", options.quant_format)
    with tempfile.TemporaryDirectory(prefix="dlc-aaq-x-", dir=out.parent) as tmp:
        pre = Path(tmp) / "pre.onnx"
        preprocess(Path(artifact.path), pre)  # type: ignore[arg-type]
        method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                  "percentile": CalibrationMethod.Percentile}[options.calibration]
        with silenced("", "onnxruntime"):
            quantize_static(str(pre), str(out), _reader(list(calibration), symbolic_batch(pre)),
                            quant_format=QuantFormat.QOperator if fmt == "qoperator" else QuantFormat.QDQ,
                            per_channel=options.per_channel, reduce_range=bool(params.get("reduce_range")),
                            activation_type=QuantType.QUInt8 if fmt == "qoperator" else QuantType.QInt8,
                            weight_type=QuantType.QInt8, calibrate_method=method, nodes_to_exclude=exclude,
                            extra_options={"CalibTensorRangeSymmetric": False})


ACCURACY_CONTROLLED.add("onnx", quantize_onnx_accuracy)
