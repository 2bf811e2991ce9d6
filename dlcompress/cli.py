"""The ``dlcompress`` command line: a thin typer shell over :mod:`dlcompress.api`.

User mistakes (bad names, files, shapes, existing outputs) print one line on stderr and exit with code 2.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from dlcompress.benchmarks.report import human_count
from dlcompress.toolkit.errors import DLCompressError, GateError
from dlcompress.toolkit.progress import set_quiet

# JAX (imported by litert-torch) warns whenever the process forks, which libraries loaded after it do (seen:
# during NNCF quantization); the generic warning would bury the command's own output.
warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)

app = typer.Typer(name="dlcompress", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Compress models (int8/fp16 quantization), export them to deployment formats, and prove "
                       "what was gained and lost with a side-by-side report.")


def _version(value: bool) -> None:
    if value:
        from dlcompress import __version__

        print(f"dlcompress {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                 help="Print the version and exit.")] = False) -> None:
    """Compress models (int8/fp16 quantization), export them to deployment formats, and prove what was gained and
    lost with a side-by-side report."""


zoo_app = typer.Typer(no_args_is_help=True, help="The model zoo: list entries, show one.")
app.add_typer(zoo_app, name="zoo")


def out_console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 200, highlight=False)


# ---- shared options ------------------------------------------------------------------------------------
ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Zoo name, file.py:factory, package.module:factory, or a .onnx file.")]
WeightsOpt = Annotated[Optional[str], typer.Option(help="Checkpoint path (state_dict, or dict with it under state_dict/model), or a torchvision weights name found in the local torch hub cache.")]
ShapeOpt = Annotated[Optional[str], typer.Option("--input-shape", help="Input shape with batch first, e.g. 1,3,224,224 (needed for factories).")]
MeanOpt = Annotated[Optional[str], typer.Option(help="Per-channel mean of images scaled to [0,1], e.g. 0.485,0.456,0.406.")]
StdOpt = Annotated[Optional[str], typer.Option(help="Per-channel std, e.g. 0.229,0.224,0.225.")]
DataOpt = Annotated[Optional[str], typer.Option(help="fashion-mnist, digits, photos, synthetic, an ImageFolder path, or a feed dataset made for the model (text-topics, spoken-digits, karate-club, go-positions, ...). Default: the model's own.")]
CalibOpt = Annotated[int, typer.Option("--calib-samples", min=1, help="Calibration samples from the training split.")]
EvalOpt = Annotated[int, typer.Option("--eval-samples", min=0, help="Held-out samples to evaluate (0 = all).")]
BatchOpt = Annotated[int, typer.Option(min=1, help="Batch size for latency measurement.")]
ThreadsOpt = Annotated[Optional[int], typer.Option(min=1, help="Threads per runtime (default: all cores).")]
SecondsOpt = Annotated[float, typer.Option("--bench-seconds", min=1.0, help="Time budget for latency measurement.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report JSON on stdout (progress stays on stderr).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
ExporterOpt = Annotated[str, typer.Option("--exporter", help="Export route: auto; ONNX: dynamo, torchscript; OpenVINO: torch (PyTorch frontend), onnx (via ONNX), dynamo, torchscript.")]
OpsetOpt = Annotated[Optional[int], typer.Option(help="ONNX opset (default: the exporter's).")]


def _model_options(weights, input_shape, mean, std):  # noqa: ANN001, ANN202
    from dlcompress.toolkit.models import ModelOptions, parse_floats, parse_shape

    return ModelOptions(weights=weights, input_shape=parse_shape(input_shape),
                        mean=parse_floats(mean, "--mean"), std=parse_floats(std, "--std"))


# ---- commands ------------------------------------------------------------------------------------------
@app.command()
def quantize(
    model: ModelOpt = "resnet50",
    weights: WeightsOpt = None,
    input_shape: ShapeOpt = None,
    mean: MeanOpt = None,
    std: StdOpt = None,
    data: DataOpt = None,
    calib_samples: CalibOpt = 64,
    eval_samples: EvalOpt = 1000,
    method: Annotated[str, typer.Option(help="static (int8, calibrated), dynamic (int8 weights), fp16, or auto: the model's own default (dynamic for transformers and LSTMs, else static).")] = "auto",
    calibration: Annotated[str, typer.Option(help="minmax, entropy or percentile.")] = "minmax",
    quant_format: Annotated[str, typer.Option("--quant-format", help="qoperator (fast on x86) or qdq.")] = "qoperator",
    per_channel: Annotated[bool, typer.Option("--per-channel/--no-per-channel", help="Per-channel weight scales.")] = True,
    reduce_range: Annotated[str, typer.Option(help="7-bit weights: auto (on x86 without VNNI), on, off.")] = "auto",
    batch: BatchOpt = 1,
    threads: ThreadsOpt = None,
    bench_seconds: SecondsOpt = 60.0,
    backend: Annotated[str, typer.Option(help="Deployment backend: onnxruntime, openvino, litert.")] = "onnxruntime",
    exporter: ExporterOpt = "auto",
    opset: OpsetOpt = None,
    max_drop: Annotated[Optional[float], typer.Option("--max-drop", help="Accuracy-controlled int8 (openvino): keep the top-1 drop on labelled held-out data within this (0.01 = 1 point).")] = None,
    preset: Annotated[Optional[str], typer.Option(help="NNCF preset (openvino): performance (symmetric) or mixed (asymmetric activations).")] = None,
    fast_bias_correction: Annotated[Optional[bool], typer.Option("--fast-bias-correction/--no-fast-bias-correction", help="NNCF bias correction (openvino): fast (default) or the slower, more exact one.")] = None,
    ignore: Annotated[Optional[list[str]], typer.Option(help="Keep in float (openvino): NODE, re:PATTERN or type:OPTYPE (type:Linear, type:Conv2d work too). Repeatable.")] = None,
    inference_precision: Annotated[Optional[str], typer.Option("--inference-precision", help="OpenVINO compute precision for evaluation and timing: f32 (default), bf16, f16, default (the CPU's choice). Validation always uses f32.")] = None,
    int8_io: Annotated[bool, typer.Option("--int8-io", help="Full-int8 model with int8 inputs and outputs, as integer-only accelerators (Edge TPU, NPUs) need (litert). Default: float I/O.")] = False,
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: dlcompress-out/<model>-<time>/).")] = None,
    overwrite: OverwriteOpt = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Export (ONNX by default), quantize, and report fp32 vs quantized side by side."""
    from dlcompress.api.common import DataOptions
    from dlcompress.api.quantize import QuantizeRequest, quantize as run
    from dlcompress.benchmarks.harness import BenchOptions
    from dlcompress.exporters import ExportOptions
    from dlcompress.toolkit.stages.quantize import QuantizeOptions
    from dlcompress.toolkit.stages.quantize_openvino import OpenVinoQuantizeOptions

    set_quiet(quiet or as_json)
    rr = {"auto": None, "on": True, "off": False}.get(reduce_range)
    if reduce_range not in ("auto", "on", "off"):
        raise DLCompressError(f"--reduce-range {reduce_range!r} is not one of auto, on, off")
    advanced = None
    if preset is not None or fast_bias_correction is not None or ignore:
        advanced = OpenVinoQuantizeOptions(preset, True if fast_bias_correction is None else fast_bias_correction,
                                           tuple(ignore or ()))
    if int8_io:
        from dlcompress.toolkit.stages.quantize_litert import LiteRTQuantizeOptions

        if advanced is not None:
            raise DLCompressError("--int8-io (litert) cannot be combined with --preset/--fast-bias-correction/--ignore (openvino)")
        advanced = LiteRTQuantizeOptions(integer_io=True)
    request = QuantizeRequest(
        model=model, model_options=_model_options(weights, input_shape, mean, std),
        data=DataOptions(data, calib_samples, eval_samples),
        quantize=QuantizeOptions(method, calibration, quant_format, per_channel, rr, calib_samples, max_drop, advanced),
        bench=BenchOptions(batch=batch, max_seconds=bench_seconds), export=ExportOptions(route=exporter, opset=opset),
        threads=threads, out=out, overwrite=overwrite, backend=backend, inference_precision=inference_precision,
    )
    result = run(request)
    if as_json:
        print(result.report.dumps())
    else:
        result.report.render(out_console())
        out_console().print(f"wrote {result.out_dir}/ (report.json, report.md, lineage.json, "
                            + ", ".join(result.report.artifacts) + ")")


@app.command()
def train(
    model: ModelOpt,
    data: Annotated[str, typer.Option(help="fashion-mnist, digits or an ImageFolder path.")] = "fashion-mnist",
    epochs: Annotated[int, typer.Option(min=1)] = 1,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 128,
    lr: Annotated[float, typer.Option(min=0.0)] = 2e-3,
    optimizer: Annotated[str, typer.Option(help="adamw or sgd.")] = "adamw",
    train_samples: Annotated[Optional[int], typer.Option("--train-samples", min=1, help="Use only this many training images.")] = None,
    seed: int = 0,
    weights: WeightsOpt = None,
    threads: ThreadsOpt = None,
    out: Annotated[Path, typer.Option(help="Checkpoint file to write.")] = Path("checkpoint.pt"),
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train a zoo entry (adapted to the dataset's channels and classes) and save a checkpoint."""
    from dlcompress.api.train import TrainRequest, train as run
    from dlcompress.toolkit.models import ModelOptions
    from dlcompress.toolkit.training import TrainOptions

    set_quiet(quiet)
    result = run(TrainRequest(model, data, out, TrainOptions(epochs, batch_size, lr, optimizer=optimizer, seed=seed,
                                                            train_samples=train_samples),
                              ModelOptions(weights=weights), overwrite, threads))
    top1 = result.history.final_top1
    out_console().print(f"wrote {result.checkpoint} ({result.metadata['model']} on {result.metadata['dataset']}, "
                        f"test top-1 {top1:.4f})" if top1 is not None else f"wrote {result.checkpoint}")


@app.command()
def export(
    model: ModelOpt,
    format: Annotated[str, typer.Option("--format", "-f", help="Export format.")] = "onnx",
    weights: WeightsOpt = None,
    input_shape: ShapeOpt = None,
    mean: MeanOpt = None,
    std: StdOpt = None,
    data: DataOpt = None,
    exporter: ExporterOpt = "auto",
    opset: OpsetOpt = None,
    out: Annotated[Optional[Path], typer.Option(help="Output file (default: <model>.<suffix>).")] = None,
    overwrite: OverwriteOpt = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Export a model and validate it against torch (output names, shapes, values)."""
    from dlcompress.api.common import DataOptions
    from dlcompress.api.export import ExportRequest, export as run
    from dlcompress.exporters import ExportOptions

    set_quiet(quiet or as_json)
    result = run(ExportRequest(model, format, out, _model_options(weights, input_shape, mean, std), DataOptions(data),
                               ExportOptions(route=exporter, opset=opset), overwrite))
    if as_json:
        print(json.dumps({"path": str(result.artifact.path), "validation": result.validation.to_json(),
                          "lineage": result.artifact.lineage_json()}, indent=2, default=str))
    else:
        out_console().print(f"wrote {result.artifact.path}: {result.validation.summary()}")


@app.command()
def bench(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Model files to compare (the first is the reference); or use --model.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Comma-separated models to build and compare, e.g. resnet50,mobilenet_v2.")] = None,
    backends: Annotated[str, typer.Option(help="Comma-separated: torch, onnxruntime, openvino, litert.")] = "torch,onnxruntime",
    precisions: Annotated[str, typer.Option(help="Comma-separated: fp32, int8, fp16.")] = "fp32,int8",
    devices: Annotated[str, typer.Option(help="Comma-separated: cpu (all cores), edge (one pinned core + roofline estimates), cuda.")] = "cpu",
    batch: Annotated[str, typer.Option(help="Comma-separated batch sizes, e.g. 1,8.")] = "1",
    data: Annotated[Optional[str], typer.Option(help="fashion-mnist, digits, photos, synthetic or an ImageFolder path (default: the model's own; synthetic for files).")] = None,
    weights: WeightsOpt = None,
    input_shape: ShapeOpt = None,
    mean: MeanOpt = None,
    std: StdOpt = None,
    calib_samples: CalibOpt = 64,
    eval_samples: Annotated[int, typer.Option("--eval-samples", min=0, help="Held-out samples to evaluate (0 = all).")] = 200,
    threads: ThreadsOpt = None,
    bench_seconds: Annotated[float, typer.Option("--bench-seconds", min=1.0, help="Time budget per model for latency measurement.")] = 60.0,
    min_metric: Annotated[Optional[float], typer.Option("--min-metric", help="Fail (exit 3) if any variant's metric is below this.")] = None,
    max_drop: Annotated[Optional[float], typer.Option("--max-drop", help="Fail (exit 3) if any variant's metric drops more than this vs fp32 (0.01 = 1 point).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output folder (report.json/md/html, plots/, artifacts/).")] = None,
    overwrite: OverwriteOpt = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Benchmark backends x precisions x devices x batches side by side, or compare model files."""
    from dlcompress.api.common import DataOptions
    from dlcompress.benchmarks.harness import BenchOptions

    set_quiet(quiet or as_json)
    batches = _int_list(batch, "--batch")
    if model:
        from dlcompress.api.bench_models import BenchRequest, bench_models
        from dlcompress.benchmarks.gates import Gates

        if paths:
            raise DLCompressError("give either model files or --model, not both")
        request = BenchRequest(
            models=tuple(_str_list(model)), backends=tuple(_str_list(backends)), precisions=tuple(_str_list(precisions)),
            devices=tuple(_str_list(devices)), batches=tuple(batches),
            model_options=_model_options(weights, input_shape, mean, std),
            data=DataOptions(data, calib_samples, eval_samples), bench=BenchOptions(max_seconds=bench_seconds),
            gates=Gates(min_metric, max_drop), threads=threads, out=out, overwrite=overwrite,
        )
        report, folder = bench_models(request)
    else:
        from dlcompress.api.bench import BenchFilesRequest, bench_files

        if not paths:
            raise DLCompressError("nothing to benchmark", "give model files, or --model NAME[,NAME...]")
        report = bench_files(BenchFilesRequest(tuple(paths), _model_options(weights, input_shape, mean, std),
                                               DataOptions(data or "synthetic", calib_samples, eval_samples),
                                               BenchOptions(batch=batches[0], max_seconds=bench_seconds), threads, out, overwrite))
        folder = out
    if as_json:
        print(report.dumps())
    else:
        report.render(out_console())
        if folder is not None:
            out_console().print(f"wrote {folder}/")


def _str_list(text: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise DLCompressError(f"empty list {text!r}")
    return items


def _int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(t) for t in _str_list(text)]
    except ValueError:
        raise DLCompressError(f"{what} must be comma-separated integers, got {text!r}") from None
    if any(v < 1 for v in values):
        raise DLCompressError(f"{what} values must be at least 1")
    return values


@zoo_app.command("list")
def zoo_list(
    pattern: Annotated[str, typer.Argument(help="fnmatch pattern, e.g. 'resnet*'.")] = "*",
    as_json: JsonOpt = False,
) -> None:
    """Every zoo entry with task, params, MACs and input shape (computed from the real model)."""
    from rich.table import Table

    from dlcompress.api.zoo import zoo_entries

    entries = zoo_entries(pattern)
    if not entries:
        raise DLCompressError(f"no zoo entry matches {pattern!r}", "run dlcompress zoo list")
    if as_json:
        print(json.dumps([e.to_json() for e in entries], indent=2))
        return
    t = Table(title=f"dlcompress zoo ({len(entries)} entries)")
    for col in ("name", "family", "task", "params", "MACs", "input"):
        t.add_column(col, justify="right" if col in ("params", "MACs") else "left")
    for e in entries:
        t.add_row(e.spec.name, e.spec.family, e.spec.task, human_count(e.params), human_count(e.macs),
                  escape(", ".join(i.describe() for i in e.spec.inputs)))
    out_console().print(t)


@zoo_app.command("show")
def zoo_show(name: Annotated[str, typer.Argument(help="Zoo entry name.")], as_json: JsonOpt = False) -> None:
    """One entry's spec: task, inputs, outputs, params, MACs, source paper, export notes."""
    from dlcompress.api.zoo import zoo_entry

    entry = zoo_entry(name)
    d = entry.to_json()
    if as_json:
        print(json.dumps(d, indent=2))
        return
    c = out_console()
    s = entry.spec
    c.print(f"[bold]{s.name}[/bold]  ({s.family}, {s.task})")
    c.print(escape(f"  inputs:  {', '.join(t.describe() for t in s.inputs)}"))
    c.print(escape(f"  outputs: {', '.join(t.describe() for t in s.outputs)}"))
    c.print(f"  params:  {human_count(entry.params)}   MACs: {human_count(entry.macs)} (batch 1)")
    c.print(escape(f"  preprocessing: mean {s.mean or 'none'}, std {s.std or 'none'}; default data: {s.default_data}"))
    c.print(f"  tolerance: atol {s.atol:g}, rtol {s.rtol:g}")
    c.print(escape(f"  paper: {s.paper or 'n/a'}"))
    c.print(escape(f"  export: {s.export_notes or 'ONNX (dynamo exporter, TorchScript fallback)'}"))
    if entry.error:
        c.print(f"  [red]error computing complexity:[/red] {escape(entry.error)}")


# ---- entry point ---------------------------------------------------------------------------------------
def _click_classes(name: str) -> tuple[type[BaseException], ...]:
    """``name`` from click and from the copy of click that typer >= 0.26 vendors as ``typer._click``."""
    import importlib

    found = []
    for module in ("click.exceptions", "typer._click.exceptions"):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


_CLICK_ERRORS = _click_classes("ClickException")
_CLICK_ABORTS = _click_classes("Abort")


def _register_areas() -> None:
    from dlcompress.commands import register_all

    register_all(app)


_register_areas()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors become one line on stderr and exit code 2."""
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=argv, prog_name="dlcompress", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except GateError as e:
        print(f"dlcompress: gate failed: {e}", file=sys.stderr)
        return 3
    except DLCompressError as e:
        print(f"dlcompress: error: {e}", file=sys.stderr)
        return 2
    except _CLICK_ERRORS as e:  # usage errors: click prints usage + the problem; exit code 2
        e.show()
        return e.exit_code
    except (*_CLICK_ABORTS, KeyboardInterrupt):
        print("dlcompress: interrupted (nothing was left half-written)", file=sys.stderr)
        return 130


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
