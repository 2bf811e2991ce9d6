"""The steps that make deployable models, shared by every job that runs them (``quantize``, ``pipeline``,
through :func:`~dlcompress.recipes.pipeline.run_pipeline`): export + validation against the source model, and
quantization with its calibration and held-out data."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np

from dlcompress.exporters import EXPORTERS, ExportOptions
from dlcompress.exporters.validate import validate_outputs
from dlcompress.recipes.common import (
    BN_RECALIBRATION_IMAGES,
    DataOptions,
    Prepared,
    Variant,
)
from dlcompress.toolkit.artifact import Artifact
from dlcompress.toolkit.backends import Backend
from dlcompress.toolkit.errors import DatasetError
from dlcompress.toolkit.progress import note, step
from dlcompress.toolkit.runtimes import open_runtime
from dlcompress.toolkit.stages import quantize_onnx  # noqa: F401  (registers the ONNX quantizer)
from dlcompress.toolkit.stages.quantize import HeldOut, QuantizeOptions, resolve_method
from dlcompress.toolkit.stages.quantize import quantize as quantize_artifact

HELD_OUT_SAMPLES = 300  # labelled samples that accuracy-controlled quantization (--max-drop) measures the drop on


def export_validated(prepared: Prepared, folder: Path, backend: Backend, export: ExportOptions,
                     runtime_options) -> Variant:  # noqa: ANN001
    """The fp32 variant in the backend's format, exported and validated against its source (torch, or the
    user's ONNX file run by ONNX Runtime). A user's ONNX file for the ONNX backend is copied as is."""
    art = prepared.artifact
    target = folder / backend.filename()
    if art.format is backend.format:
        shutil.copyfile(art.path, target)  # type: ignore[arg-type]
        data = Path(str(art.path) + ".data")
        if data.exists():
            shutil.copyfile(data, Path(str(target) + ".data"))
        return Variant("fp32", Artifact(backend.format, art.spec, path=target, lineage=art.lineage), backend.runtime,
                       status="input", reason=f"user-supplied {backend.format} file: no torch reference to validate against")
    step(f"exporting {art.spec.name} to {backend.format}")
    exported = EXPORTERS.get(backend.exporter).export(art, target, export)
    rec = exported.lineage[-1]
    if rec.effect.get("fallback_from"):
        note(f"first export route failed, used the next one: {rec.effect['fallback_from'][0]}")
    feeds = prepared.validation_feeds()
    exact = dataclasses.replace(runtime_options, inference_precision=None)  # never validate at reduced precision
    result = validate_outputs(open_runtime(art, exact), open_runtime(exported, exact, backend.runtime),
                              feeds, art.spec.tolerance.atol, art.spec.tolerance.rtol)
    step(f"{backend.format} {result.summary()}")
    if not result.passed:
        note(f"exported model is outside tolerance: {'; '.join(result.problems)}")
    return Variant("fp32", exported, backend.runtime, status="validated" if result.passed else "outside-tolerance",
                   reason=None if result.passed else result.summary(), validation=result.to_json())


def quantize_step(prepared: Prepared, source: Artifact, q: QuantizeOptions, data: DataOptions, backend: Backend,
                  folder: Path, held_out: HeldOut | None = None) -> tuple[Variant, int | None]:
    """The quantize step of every job (``quantize``, ``pipeline``): calibration from the training split, held-out
    labelled data for ``--max-drop``, the backend's quantizer; the variant and the calibration sample count."""
    q = resolve_method(q, source.spec, str(source.format))
    calib = None
    if q.needs_calibration:
        calib = prepared.calibration(min(q.samples, data.calib_samples) if data.calib_samples else q.samples)
        step(f"quantizing to {q.precision} with {backend.name} ({q.method}, calibrated on {calib.count} "
             f"{prepared.data.name} samples{'' if q.max_drop is None else f', top-1 drop at most {q.max_drop:g}'})")
    elif q.weight_only:
        step(f"quantizing the MatMul/Gemm weights to {q.precision} with {backend.name} (weight-only, {q.algorithm}; "
             "activations stay float)")
    else:
        step(f"quantizing to {q.precision} ({q.method})")
    if q.max_drop is not None and held_out is None:
        held_out = held_out_data(prepared, data)
    quantized = quantize_artifact(source, q, calib, folder / backend.filename(q.precision), held_out)
    effect = quantized.lineage[-1].effect
    if effect.get("within_max_drop") is False:
        note(f"accuracy control could not keep the held-out top-1 drop within {q.max_drop:g}: "
             f"{effect.get('held_out_drop')} (the best model found is kept)")
        prepared.notes.append(f"--max-drop {q.max_drop:g} not reached on held-out data: drop {effect.get('held_out_drop')}")
    params = quantized.lineage[-1].params
    if q.max_drop is not None and "float_layers" in params:
        kept = params["float_layers"]
        said = (f"accuracy control ({params.get('score')}, {params.get('held_out_samples')} held-out samples): "
                f"drop {effect.get('held_out_drop')} with {len(kept)} layer(s) kept in float"
                + (f": {', '.join(kept)}" if kept else " (plain int8 was within the limit)"))
        step(said)
        prepared.notes.append(said)
    return Variant(q.precision, quantized, backend.runtime, status="quantized"), (calib.count if calib else None)


def held_out_data(prepared: Prepared, data: DataOptions, n: int = HELD_OUT_SAMPLES) -> HeldOut:
    """Held-out batches disjoint from the evaluation set (with their labels when the data has them): the test split after the evaluated items, else the
    training split's tail (before the images used for BatchNorm re-estimation)."""
    if prepared.transform is None:
        raise DatasetError(f"--max-drop needs image data to measure the drop on; {prepared.data.name} is not images",
                           "use --data photos, fashion-mnist, digits or an image folder")
    test, train = prepared.data.test, prepared.data.train
    start = data.eval_samples or len(test)
    if len(test) - start >= n // 2:
        source, idx, name = test, np.arange(start, min(len(test), start + n)), "test"
    else:
        end = max(0, len(train) - BN_RECALIBRATION_IMAGES)
        source, idx, name = train, np.arange(max(0, end - n), end), "train"
    if not len(idx):
        raise DatasetError(f"{prepared.data.name} has no samples left for --max-drop after the evaluated ones",
                           "lower --eval-samples")
    batch = data.eval_batch
    chunks = [idx[i:i + batch] for i in range(0, len(idx), batch)]
    name_in = prepared.spec.inputs[0].name
    labelled = prepared.labelled and source.labels is not None
    return HeldOut([{name_in: prepared.transform(source.batch(c))} for c in chunks],
                   [source.labels[c] for c in chunks] if labelled else [],
                   f"{prepared.data.name} {name}[{idx[0]}:{idx[-1] + 1}]{'' if labelled else ' (no labels)'}")
