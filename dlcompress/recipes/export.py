"""``dlcompress export``: one model to one format, validated against the torch reference."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from dlcompress.exporters import ExportOptions, exporter_for
from dlcompress.exporters.validate import ValidationResult, validate_outputs
from dlcompress.recipes.common import DataOptions, init_runtimes, prepare
from dlcompress.toolkit.artifact import Artifact, Format, sibling_files
from dlcompress.toolkit.errors import UnsupportedError
from dlcompress.toolkit.model_options import ModelOptions
from dlcompress.toolkit.outputs import atomic_file, check_writable
from dlcompress.toolkit.progress import step
from dlcompress.toolkit.runtimes import open_runtime


@dataclass(frozen=True)
class ExportRequest:
    model: str
    format: str = "onnx"
    out: Path | None = None
    model_options: ModelOptions = field(default_factory=ModelOptions)
    data: DataOptions = field(default_factory=DataOptions)
    export: ExportOptions = field(default_factory=ExportOptions)
    overwrite: bool = False


@dataclass(frozen=True)
class ExportResult:
    artifact: Artifact
    validation: ValidationResult


def export(request: ExportRequest) -> ExportResult:
    """Export and validate; the file is written atomically (kept even when outside tolerance, and said so)."""
    exporter = exporter_for(request.format)
    out = request.out or Path(f"{request.model.rsplit('/', 1)[-1].replace(':', '_')}{exporter.suffix}")
    check_writable(out, request.overwrite)
    options = init_runtimes(None)
    prepared = prepare(request.model, request.model_options, request.data)
    if prepared.artifact.format not in (Format.TORCH, Format.KERAS):
        raise UnsupportedError(f"{request.model} is already a {prepared.artifact.format} model; export needs a torch "
                               "or Keras/TensorFlow model")
    step(f"exporting {prepared.spec.name} to {request.format}")
    with atomic_file(out, request.overwrite) as tmp:
        tmp_named = tmp.with_name(tmp.name + exporter.suffix)
        art = exporter.export(prepared.artifact, tmp_named, request.export)
        feeds = prepared.validation_feeds()
        result = validate_outputs(open_runtime(prepared.artifact, options), open_runtime(art, options), feeds,
                                  prepared.spec.tolerance.atol, prepared.spec.tolerance.rtol)
        for sibling in sibling_files(tmp_named):  # OpenVINO's .bin: renamed beside the target before the .xml lands
            sibling.replace(out.with_suffix(sibling.suffix))
        tmp_named.replace(tmp)
    return ExportResult(dataclasses.replace(art, path=out), result)
