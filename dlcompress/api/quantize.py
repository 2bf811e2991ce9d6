"""The main job: model -> validated fp32 ONNX -> quantized ONNX -> side-by-side report, written atomically."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from dlcompress.api.common import (
    DataOptions, Prepared, Variant, init_runtimes, measure_variants, new_report, prepare, write_report,
)
from dlcompress.benchmarks.harness import BenchOptions
from dlcompress.benchmarks.report import Report
from dlcompress.benchmarks.runtimes import open_runtime
from dlcompress.exporters import EXPORTERS, ExportOptions
from dlcompress.exporters.validate import validate_outputs
from dlcompress.toolkit.artifact import Artifact, Format
from dlcompress.toolkit.backends import BACKENDS, Backend
from dlcompress.toolkit.models import ModelOptions
from dlcompress.toolkit.outputs import atomic_dir, check_writable, default_out_dir
from dlcompress.toolkit.progress import note, step
from dlcompress.toolkit.stages import quantize_onnx  # noqa: F401  (registers the ONNX quantizer)
from dlcompress.toolkit.stages.quantize import QuantizeOptions, quantize as quantize_artifact


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
    feeds = [art.spec.example_inputs(2, seed=s) for s in range(2)] + prepared.feeds("test", 8, 8)
    result = validate_outputs(open_runtime(art, runtime_options), open_runtime(exported, runtime_options, backend.runtime),
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
    runtime_options = init_runtimes(request.threads)
    prepared = prepare(request.model, request.model_options, request.data)
    q = request.quantize
    with atomic_dir(out, request.overwrite) as folder:
        fp32 = export_validated(prepared, folder, backend, request.export, runtime_options)
        calib = None
        n_calib = None
        if q.method == "static":
            calib = prepared.feeds("train", min(q.samples, request.data.calib_samples) if request.data.calib_samples else q.samples, 8)
            n_calib = sum(len(next(iter(f.values()))) for f in calib)
            step(f"quantizing to {q.precision} ({q.method}, {q.quant_format}, {q.calibration} calibration on "
                 f"{n_calib} {prepared.data.name} samples)")
        else:
            step(f"quantizing to {q.precision} ({q.method})")
        suffix = "fp16" if q.method == "fp16" else "int8"
        quantized = quantize_artifact(fp32.artifact, q, calib, folder / backend.filename(suffix))
        variants = [fp32, Variant(suffix, quantized, backend.runtime, status="quantized")]
        rows, diagnosis = measure_variants(variants, prepared, request.data, request.bench, runtime_options)
        report = new_report("quantize", prepared, request.data, n_calib, request.bench)
        report.rows, report.diagnosis = rows, diagnosis
        report.artifacts = {v.artifact.path.name: f"{v.name} {v.artifact.format}" for v in variants}  # type: ignore[union-attr]
        write_report(report, folder, {v.artifact.path.name: v.artifact.lineage_json() for v in variants})  # type: ignore[union-attr]
    return QuantizeResult(report, out)
