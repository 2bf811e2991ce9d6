"""``dlcompress sensitivity``: which layers int8 hurts, on real data: the model exported to ONNX (validated),
then per quantizable layer its activation/weight SQNR, activation range, and the score when only it stays float
and when only it is int8 (see :mod:`dlcompress.toolkit.stages.onnx_sensitivity`). Written atomically:
``sensitivity.json``, ``sensitivity.md``, ``sensitivity.png`` and the fp32 ``model.onnx``."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlcompress.exporters import ExportOptions
from dlcompress.recipes.common import DataOptions, init_runtimes, prepare, score_outputs
from dlcompress.recipes.export_steps import export_validated
from dlcompress.toolkit.backends import BACKENDS
from dlcompress.toolkit.errors import UnsupportedError
from dlcompress.toolkit.metrics import collect_batches
from dlcompress.toolkit.model_options import ModelOptions
from dlcompress.toolkit.outputs import atomic_dir, check_writable, default_out_dir
from dlcompress.toolkit.progress import step
from dlcompress.toolkit.runtimes import open_runtime
from dlcompress.toolkit.stages.onnx_sensitivity import (
    Sensitivity,
    markdown,
    plot,
    sensitivity,
)
from dlcompress.toolkit.stages.quantize_onnx import preprocess


@dataclass(frozen=True)
class SensitivityRequest:
    """``per_layer`` False: SQNR and ranges only (one quantization instead of two per layer); ``max_layers``: only
    the layers with the lowest SQNR get the per-layer runs."""

    model: str
    model_options: ModelOptions = field(default_factory=ModelOptions)
    data: DataOptions = field(default_factory=lambda: DataOptions(calib_samples=32, eval_samples=256))
    per_layer: bool = True
    max_layers: int | None = None
    threads: int | None = None
    out: Path | None = None
    overwrite: bool = False


@dataclass(frozen=True)
class SensitivityResult:
    result: Sensitivity
    out_dir: Path


def run_sensitivity(request: SensitivityRequest) -> SensitivityResult:
    out = request.out or default_out_dir(f"{request.model.rsplit('/', 1)[-1].replace(':', '_')}-sensitivity")
    check_writable(out, request.overwrite)
    if request.max_layers is not None and request.max_layers < 1:
        raise UnsupportedError(f"--max-layers must be at least 1, got {request.max_layers}")
    runtime_options = init_runtimes(request.threads)
    prepared = prepare(request.model, request.model_options, request.data)
    with atomic_dir(out, request.overwrite) as folder:
        fp32 = export_validated(prepared, folder, BACKENDS.get("onnxruntime"), ExportOptions(), runtime_options).artifact
        eval_feeds = prepared.feeds("test", request.data.eval_samples or None, request.data.eval_batch)
        labels = prepared.labels(request.data.eval_samples or None)
        total = sum(len(next(iter(f.values()))) for f in eval_feeds)
        reference = collect_batches(open_runtime(fp32, runtime_options), eval_feeds, total)
        name = prepared.metric_name or ("top1 agreement" if prepared.spec.task.endswith("classification") else "cosine")

        def score(path: Path) -> float:
            art = _at(fp32, path)
            outputs = collect_batches(open_runtime(art, runtime_options), eval_feeds, total)
            metric, fid = score_outputs(prepared, outputs, reference, labels)
            if metric is not None:
                return float(metric["value"])
            value = fid.top1_agreement if name == "top1 agreement" else fid.cosine
            return float(value if value is not None else np.nan)

        calibration = list(prepared.calibration(request.data.calib_samples))
        with tempfile.TemporaryDirectory(prefix="dlc-sens-pre-", dir=folder) as tmp:
            pre = Path(tmp) / "pre.onnx"
            preprocess(Path(fp32.path), pre)  # type: ignore[arg-type]
            step(f"int8 sensitivity of {prepared.spec.name}: {name} on {total} held-out samples of {prepared.data.name}")
            result = sensitivity(pre, calibration, score, name, f"{total} held-out samples of {prepared.data.name}",
                                 per_layer=request.per_layer, max_layers=request.max_layers)
        (folder / "sensitivity.json").write_text(json.dumps({"model": prepared.spec.name, **result.to_json()}, indent=2))
        (folder / "sensitivity.md").write_text(f"# int8 sensitivity of {prepared.spec.name}\n\n{markdown(result)}\n")
        plot(result, folder / "sensitivity.png")
    return SensitivityResult(result, out)


def _at(artifact, path: Path):  # noqa: ANN001, ANN202
    """``artifact`` (an ONNX file) with its file swapped for ``path`` (same signature)."""
    import dataclasses

    return dataclasses.replace(artifact, path=path)
