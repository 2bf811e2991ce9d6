"""Options, parsers and the console shared by the commands: each option is defined once here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from dlcompress.toolkit.backends import BACKENDS
from dlcompress.toolkit.errors import DLCompressError

BACKEND_NAMES = ", ".join(BACKENDS.names())
"""Every registered ``--backend``, for help texts (installed or not: a missing one names its extra)."""
FORMAT_NAMES = ", ".join(dict.fromkeys(BACKENDS.get(n).exporter for n in BACKENDS.names()))
"""Every export format a backend deploys (onnx, openvino, litert, executorch)."""


def out_console() -> Console:
    """The console for results (stdout); wide when piped so tables do not wrap."""
    return Console(width=None if sys.stdout.isatty() else 200, highlight=False)


ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Zoo name, file.py:factory, package.module:factory, a .onnx file, or a Hugging Face model folder (config.json + weights; local files only).")]
TaskOpt = Annotated[Optional[str], typer.Option("--task", help="Task of a Hugging Face folder when not its own: sentence-embedding, feature-extraction, text-classification, token-classification, causal-lm.")]
WeightsOpt = Annotated[Optional[str], typer.Option(help="Checkpoint path (state_dict, or dict with it under state_dict/model), or a torchvision weights name found in the local torch hub cache.")]
ShapeOpt = Annotated[Optional[str], typer.Option("--input-shape", help="Input shape with batch first, e.g. 1,3,224,224 (needed for factories); per input for an ONNX file's symbolic dims: 'input_ids=1,128 attention_mask=1,128'.")]
TokenizerOpt = Annotated[Optional[str], typer.Option("--tokenizer", help="Folder with tokenizer files (a Hugging Face folder): an ONNX file's token inputs are fed from real text through it.")]
MeanOpt = Annotated[Optional[str], typer.Option(help="Per-channel mean of images scaled to [0,1], e.g. 0.485,0.456,0.406.")]
StdOpt = Annotated[Optional[str], typer.Option(help="Per-channel std, e.g. 0.229,0.224,0.225.")]
DataOpt = Annotated[Optional[str], typer.Option(help="fashion-mnist, digits, photos, synthetic, an ImageFolder path (one subfolder per class) or a folder of images (unlabelled), a feed dataset made for the model (text-topics, spoken-digits, karate-club, go-positions, ...), or your own file: .txt (one text a line), .csv/.jsonl (see --text-column, --label-column), .npz (one array per model input, optional labels). Default: the model's own.")]
TextColumnOpt = Annotated[str | None, typer.Option("--text-column", help="The column of a .csv/.jsonl --data file holding the text (default: text, else the only text column).")]
LabelColumnOpt = Annotated[str | None, typer.Option("--label-column", help="The column of a .csv/.jsonl --data file holding class labels (the array of an .npz; default: labels): the report gives accuracy.")]
CalibOpt = Annotated[int, typer.Option("--calib-samples", min=1, help="Calibration samples from the training split.")]
EvalOpt = Annotated[int, typer.Option("--eval-samples", min=0, help="Held-out samples to evaluate (0 = all).")]
BatchOpt = Annotated[int, typer.Option(min=1, help="Batch size for latency measurement.")]
ThreadsOpt = Annotated[Optional[int], typer.Option(min=1, help="Threads per runtime (default: all cores).")]
SecondsOpt = Annotated[float, typer.Option("--bench-seconds", min=1.0, help="Time budget for latency measurement.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")]
SaveRecipeOpt = Annotated[Optional[Path], typer.Option("--save-recipe", help="Also write this job as a YAML recipe (rerun it with dlcompress run FILE).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report JSON on stdout (progress stays on stderr).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
ExporterOpt = Annotated[str, typer.Option("--exporter", help="Export route: auto; ONNX: dynamo, torchscript; OpenVINO: torch (PyTorch frontend), onnx (via ONNX), dynamo, torchscript.")]
OpsetOpt = Annotated[Optional[int], typer.Option(help="ONNX opset (default: the exporter's).")]


def model_options(weights, input_shape, mean, std, task=None, tokenizer=None):  # noqa: ANN001, ANN202
    from dlcompress.toolkit.model_options import (
        ModelOptions,
        parse_floats,
        parse_named_shapes,
        parse_shape,
    )

    named = parse_named_shapes(input_shape)
    return ModelOptions(weights=weights, input_shape=None if named else parse_shape(input_shape),
                        mean=parse_floats(mean, "--mean"), std=parse_floats(std, "--std"), task=task,
                        input_shapes=named, tokenizer=tokenizer)


def str_list(text: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise DLCompressError(f"empty list {text!r}")
    return items


def int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(t) for t in str_list(text)]
    except ValueError:
        raise DLCompressError(f"{what} must be comma-separated integers, got {text!r}") from None
    if any(v < 1 for v in values):
        raise DLCompressError(f"{what} values must be at least 1")
    return values


def save_recipe_of(request: Any, path: Path | None) -> None:
    """``--save-recipe PATH``: write the recipe of ``request`` (a request with ``pipeline()``, or a
    PipelineRequest) before the job runs, and say so."""
    if path is None:
        return
    from dlcompress.recipes.recipe_file import save_recipe
    from dlcompress.toolkit.progress import note

    pipeline = request.pipeline() if hasattr(request, "pipeline") else request
    save_recipe(pipeline, path)
    note(f"recipe written to {path} (rerun with: dlcompress run {path})")
