"""The main job: model -> validated fp32 ONNX -> quantized ONNX -> side-by-side report, written atomically."""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlcompress.recipes.common import (
    BN_RECALIBRATION_IMAGES, DataOptions, Prepared, Variant, init_runtimes, measure_variants, new_report, prepare,
    write_report,
)
from dlcompress.benchmarks.harness import BenchOptions
from dlcompress.benchmarks.report import Report
from dlcompress.toolkit.runtimes import RuntimeOptions, get_runtime, open_runtime
from dlcompress.exporters import EXPORTERS, ExportOptions
from dlcompress.exporters.validate import validate_outputs
from dlcompress.toolkit.artifact import Artifact
from dlcompress.toolkit.backends import BACKENDS, Backend
from dlcompress.toolkit.errors import DatasetError, UnsupportedError
from dlcompress.toolkit.models import ModelOptions
from dlcompress.toolkit.outputs import atomic_dir, check_writable, default_out_dir
from dlcompress.toolkit.progress import note, step
from dlcompress.toolkit.stages import quantize_onnx  # noqa: F401  (registers the ONNX quantizer)
from dlcompress.toolkit.stages.quantize import (
    HeldOut, QuantizeOptions, check_options, quantize as quantize_artifact, resolve_method,
)
from dlcompress.zoo import MODELS

HELD_OUT_SAMPLES = 300  # labelled samples that accuracy-controlled quantization (--max-drop) measures the drop on


@dataclass(frozen=True)
class QuantizeRequest:
    """Everything ``dlcompress quantize`` takes; each group has its own options dataclass."""

    model: str = "resnet50"
    model_options: ModelOptions = field(default_factory=ModelOptions)
    data: DataOptions = field(default_factory=DataOptions)
    quantize: QuantizeOptions = field(default_factory=QuantizeOptions)
    bench: BenchOptions = field(default_factory=BenchOptions)
    export: ExportOptions = field(default_factory=ExportOptions)
    threads: int | None = None
    out: Path | None = None
    overwrite: bool = False
    backend: str = "onnxruntime"
    inference_precision: str | None = None


@dataclass(frozen=True)
class QuantizeResult:
    report: Report
    out_dir: Path


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
                              feeds, art.spec.atol, art.spec.rtol)
    step(f"{backend.format} {result.summary()}")
    if not result.passed:
        note(f"exported model is outside tolerance: {'; '.join(result.problems)}")
    return Variant("fp32", exported, backend.runtime, status="validated" if result.passed else "outside-tolerance",
                   reason=None if result.passed else result.summary(), validation=result.to_json())


def quantize(request: QuantizeRequest) -> QuantizeResult:
    """Run the whole job and return the report and the folder it was written to."""
    out = request.out or default_out_dir(request.model.rsplit("/", 1)[-1].replace(":", "_"))
    check_writable(out, request.overwrite)
    backend = BACKENDS.get(request.backend).require()
    q = resolve_method(request.quantize, MODELS.get(request.model) if request.model in MODELS else None,
                       str(backend.format))
    check_options(str(backend.format), q)
    runtime_options = runtime_options_for(backend, request)
    prepared = prepare(request.model, request.model_options, request.data)
    held_out = held_out_data(prepared, request.data) if q.max_drop is not None else None
    with atomic_dir(out, request.overwrite) as folder:
        fp32 = export_validated(prepared, folder, backend, request.export, runtime_options)
        quantized, n_calib = quantize_step(prepared, fp32.artifact, q, request.data, backend, folder, held_out)
        variants = [fp32, quantized]
        rows, diagnosis = measure_variants(variants, prepared, request.data, request.bench, runtime_options)
        report = new_report("quantize", prepared, request.data, n_calib, request.bench)
        report.rows, report.diagnosis = rows, diagnosis
        report.artifacts = {v.artifact.path.name: f"{v.name} {v.artifact.format}" for v in variants}  # type: ignore[union-attr]
        write_report(report, folder, {v.artifact.path.name: v.artifact.lineage_json() for v in variants})  # type: ignore[union-attr]
    return QuantizeResult(report, out)


def quantize_step(prepared: Prepared, source: Artifact, q: QuantizeOptions, data: DataOptions, backend: Backend,
                  folder: Path, held_out: HeldOut | None = None) -> tuple[Variant, int | None]:
    """The quantize step of every job (``quantize``, ``pipeline``): calibration from the training split, held-out
    labelled data for ``--max-drop``, the backend's quantizer; the variant and the calibration sample count."""
    q = resolve_method(q, source.spec, str(source.format))
    calib = None
    if q.method == "static":
        calib = prepared.calibration(min(q.samples, data.calib_samples) if data.calib_samples else q.samples)
        step(f"quantizing to {q.precision} with {backend.name} ({q.method}, calibrated on {calib.count} "
             f"{prepared.data.name} samples{'' if q.max_drop is None else f', top-1 drop at most {q.max_drop:g}'})")
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
    return Variant(q.precision, quantized, backend.runtime, status="quantized"), (calib.count if calib else None)


def runtime_options_for(backend: Backend, request: QuantizeRequest) -> RuntimeOptions:
    """The job's runtime options; an inference precision only where the backend's runtime has that choice."""
    options = init_runtimes(request.threads)
    if request.inference_precision is None:
        return options
    allowed = get_runtime(backend.runtime).precisions
    if not allowed:
        raise UnsupportedError(f"--inference-precision is not an option of the {backend.name} runtime",
                               "it applies to --backend openvino")
    if request.inference_precision not in allowed:
        raise UnsupportedError(f"--inference-precision {request.inference_precision!r} is not supported by {backend.name}",
                               f"use one of: {', '.join(allowed)}")
    return dataclasses.replace(options, inference_precision=request.inference_precision)


def held_out_data(prepared: Prepared, data: DataOptions, n: int = HELD_OUT_SAMPLES) -> HeldOut:
    """Labelled batches disjoint from the evaluation set: the test split after the evaluated items, else the
    training split's tail (before the images used for BatchNorm re-estimation)."""
    if not prepared.labelled or prepared.transform is None:
        raise DatasetError(f"--max-drop needs labelled image data; {prepared.data.name} has no labels for {prepared.spec.name}",
                           "use --data fashion-mnist, digits or a labelled ImageFolder")
    test, train = prepared.data.test, prepared.data.train
    start = data.eval_samples or len(test)
    if len(test) - start >= n // 2:
        source, idx, name = test, np.arange(start, min(len(test), start + n)), "test"
    else:
        end = max(0, len(train) - BN_RECALIBRATION_IMAGES)
        source, idx, name = train, np.arange(max(0, end - n), end), "train"
    if source.labels is None or not len(idx):
        raise DatasetError(f"{prepared.data.name} has no labelled samples left for --max-drop")
    batch = data.eval_batch
    chunks = [idx[i:i + batch] for i in range(0, len(idx), batch)]
    name_in = prepared.spec.inputs[0].name
    return HeldOut([{name_in: prepared.transform(source.batch(c))} for c in chunks], [source.labels[c] for c in chunks],
                   f"{prepared.data.name} {name}[{idx[0]}:{idx[-1] + 1}]")
