"""``dlcompress quantize | train | export | bench``: the core jobs. Parse flags into the recipe layer's requests,
run them, print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcompress.commands.options import (
    BACKEND_NAMES,
    FORMAT_NAMES,
    BatchOpt,
    CalibOpt,
    DataOpt,
    EvalOpt,
    ExporterOpt,
    JsonOpt,
    LabelColumnOpt,
    MeanOpt,
    ModelOpt,
    OpsetOpt,
    OverwriteOpt,
    QuietOpt,
    SaveRecipeOpt,
    SecondsOpt,
    ShapeOpt,
    StdOpt,
    TaskOpt,
    TextColumnOpt,
    ThreadsOpt,
    TokenizerOpt,
    WeightsOpt,
    int_list,
    model_options,
    out_console,
    save_recipe_of,
    str_list,
)
from dlcompress.toolkit.errors import DLCompressError
from dlcompress.toolkit.progress import set_quiet


def register(app: typer.Typer) -> None:
    """Add the core commands to ``app``."""
    for command in (quantize, train, export, bench):
        app.command()(command)


def quantize(
    model: ModelOpt = "resnet50",
    weights: WeightsOpt = None,
    input_shape: ShapeOpt = None,
    mean: MeanOpt = None,
    std: StdOpt = None,
    task: TaskOpt = None,
    tokenizer: TokenizerOpt = None,
    data: DataOpt = None,
    text_column: TextColumnOpt = None,
    label_column: LabelColumnOpt = None,
    calib_samples: CalibOpt = 64,
    eval_samples: EvalOpt = 1000,
    method: Annotated[str, typer.Option(help="static (int8, calibrated), dynamic (int8 weights), fp16, int4 or int8-weights (weight-only: MatMul/Gemm weights in 4 or 8 bits, activations float; onnxruntime MatMulNBits, openvino NNCF compress_weights), or auto: the model's own default (dynamic for transformers and LSTMs, else static).")] = "auto",
    group_size: Annotated[Optional[str], typer.Option("--group-size", help="Weight-only: weights per scale along the input features, a power of two >= 16 (32, 64, 128), or 'channel' (one scale per output channel). Default: 128, or the largest that divides every layer.")] = None,
    symmetric: Annotated[Optional[bool], typer.Option("--symmetric/--asymmetric", help="Weight-only: scales without (symmetric) or with zero points (asymmetric, the default).")] = None,
    weight_algorithm: Annotated[str, typer.Option("--weight-algorithm", help="Weight-only: rtn (round to nearest), hqq (onnxruntime), gptq, awq, scale-estimation (openvino; these use calibration data); join with + (awq+scale-estimation).")] = "rtn",
    ratio: Annotated[Optional[float], typer.Option("--ratio", help="--method int4 on openvino: the share of layers in 4 bits; the rest, the most sensitive, in 8 bits.")] = None,
    embeddings: Annotated[str, typer.Option("--embeddings", help="Weight-only: the embedding tables and the LM head in int8 (default), int4, or float.")] = "int8",
    calibration: Annotated[str, typer.Option(help="minmax, entropy or percentile.")] = "minmax",
    quant_format: Annotated[str, typer.Option("--quant-format", help="qoperator (fast on x86) or qdq.")] = "qoperator",
    per_channel: Annotated[bool, typer.Option("--per-channel/--no-per-channel", help="Per-channel weight scales.")] = True,
    reduce_range: Annotated[str, typer.Option(help="7-bit weights: auto (on x86 without VNNI), on, off.")] = "auto",
    batch: BatchOpt = 1,
    threads: ThreadsOpt = None,
    bench_seconds: SecondsOpt = 60.0,
    backend: Annotated[str, typer.Option(help=f"Deployment backend: {BACKEND_NAMES}, or auto: build onnxruntime and openvino (those installed), time them in one run and deliver the fastest that passes the fidelity gate (1 point of the task metric, or 0.9 top-1 agreement with fp32).")] = "onnxruntime",
    exporter: ExporterOpt = "auto",
    opset: OpsetOpt = None,
    max_drop: Annotated[Optional[float], typer.Option("--max-drop", help="Accuracy-controlled int8 (onnxruntime, openvino): keep the held-out top-1 drop within this (0.01 = 1 point); without labels (onnxruntime) the share of fp32's predictions that change.")] = None,
    preset: Annotated[Optional[str], typer.Option(help="NNCF preset (openvino): performance (symmetric) or mixed (asymmetric activations).")] = None,
    fast_bias_correction: Annotated[Optional[bool], typer.Option("--fast-bias-correction/--no-fast-bias-correction", help="NNCF bias correction (openvino): fast (default) or the slower, more exact one.")] = None,
    ignore: Annotated[Optional[list[str]], typer.Option(help="Keep in float (openvino): NODE, re:PATTERN or type:OPTYPE (type:Linear, type:Conv2d work too). Repeatable.")] = None,
    inference_precision: Annotated[Optional[str], typer.Option("--inference-precision", help="OpenVINO compute precision for evaluation and timing: f32 (default), bf16, f16, default (the CPU's choice). Validation always uses f32.")] = None,
    int8_io: Annotated[bool, typer.Option("--int8-io", help="Full-int8 model with int8 inputs and outputs, as integer-only accelerators (Edge TPU, NPUs) need (litert). Default: float I/O.")] = False,
    deliver: Annotated[str, typer.Option("--deliver", help="Which model the job delivers: fastest (default: never a quantized model slower than the fp32 export; the report says why) or quantized (whatever its speed).")] = "fastest",
    bundle: Annotated[bool, typer.Option("--bundle", help="Also write the delivered model's mobile bundle: bundle.json (inputs, outputs, int8 I/O scales and zero points, normalisation, labels) and a usage snippet (Kotlin for LiteRT, C++ for ExecuTorch) under snippets/.")] = False,
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: dlcompress-out/<model>-<time>/).")] = None,
    overwrite: OverwriteOpt = False,
    save_recipe: SaveRecipeOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Export (ONNX by default), quantize, and report fp32 vs quantized side by side."""
    from dlcompress.benchmarks.harness import BenchOptions
    from dlcompress.exporters import ExportOptions
    from dlcompress.recipes.common import DataOptions
    from dlcompress.recipes.quantize import QuantizeRequest
    from dlcompress.recipes.quantize import quantize as run
    from dlcompress.toolkit.stages.quantize import QuantizeOptions, advanced_from_flags

    set_quiet(quiet or as_json)
    rr = {"auto": None, "on": True, "off": False}.get(reduce_range)
    if reduce_range not in ("auto", "on", "off"):
        raise DLCompressError(f"--reduce-range {reduce_range!r} is not one of auto, on, off")
    advanced = advanced_from_flags({"preset": preset, "fast_bias_correction": fast_bias_correction,
                                    "ignore": ignore, "int8_io": int8_io})
    request = QuantizeRequest(
        model=model, model_options=model_options(weights, input_shape, mean, std, task, tokenizer),
        data=DataOptions(data, calib_samples, eval_samples, text_column=text_column, label_column=label_column),
        quantize=QuantizeOptions(method, calibration, quant_format, per_channel, rr, calib_samples, max_drop, advanced,
                                 group_size=_group_size(group_size), symmetric=symmetric, algorithm=weight_algorithm,
                                 ratio=ratio, embeddings=embeddings),
        bench=BenchOptions(batch=batch, max_seconds=bench_seconds), export=ExportOptions(route=exporter, opset=opset),
        threads=threads, out=out, overwrite=overwrite, backend=backend, inference_precision=inference_precision,
        deliver=deliver, bundle=bundle,
    )
    if save_recipe is not None and backend == "auto":
        raise DLCompressError("--save-recipe cannot write --backend auto: a recipe names its backends",
                              "name one with --backend, or write backends: [onnxruntime, openvino] in the recipe "
                              "(compared in one report)")
    save_recipe_of(request, save_recipe)
    result = run(request)
    if as_json:
        print(result.report.dumps())
    else:
        result.report.render(out_console())
        out_console().print(f"wrote {result.out_dir}/ (report.json, report.md, lineage.json, "
                            + ", ".join(result.report.artifacts) + ")")


def _group_size(text: str | None) -> int | None:
    """``--group-size``: an integer, or ``channel`` (0: one scale per output channel)."""
    if text is None:
        return None
    if text.strip().lower() in ("channel", "per-channel", "-1"):
        return 0
    try:
        return int(text)
    except ValueError:
        raise DLCompressError(f"--group-size must be an integer (32, 64, 128) or 'channel', got {text!r}") from None


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
    from dlcompress.recipes.train import TrainRequest
    from dlcompress.recipes.train import train as run
    from dlcompress.toolkit.model_options import ModelOptions
    from dlcompress.toolkit.training import TrainOptions

    set_quiet(quiet)
    result = run(TrainRequest(model, data, out, TrainOptions(epochs, batch_size, lr, optimizer=optimizer, seed=seed,
                                                            train_samples=train_samples),
                              ModelOptions(weights=weights), overwrite, threads))
    top1 = result.history.final_top1
    out_console().print(f"wrote {result.checkpoint} ({result.metadata['model']} on {result.metadata['dataset']}, "
                        f"test top-1 {top1:.4f})" if top1 is not None else f"wrote {result.checkpoint}")


def export(
    model: ModelOpt,
    format: Annotated[str, typer.Option("--format", "-f", help=f"Export format: {FORMAT_NAMES}.")] = "onnx",
    weights: WeightsOpt = None,
    input_shape: ShapeOpt = None,
    mean: MeanOpt = None,
    std: StdOpt = None,
    task: TaskOpt = None,
    tokenizer: TokenizerOpt = None,
    data: DataOpt = None,
    text_column: TextColumnOpt = None,
    label_column: LabelColumnOpt = None,
    exporter: ExporterOpt = "auto",
    opset: OpsetOpt = None,
    out: Annotated[Optional[Path], typer.Option(help="Output file (default: <model>.<suffix>).")] = None,
    overwrite: OverwriteOpt = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Export a model and validate it against torch (output names, shapes, values)."""
    from dlcompress.exporters import ExportOptions
    from dlcompress.recipes.common import DataOptions
    from dlcompress.recipes.export import ExportRequest
    from dlcompress.recipes.export import export as run

    set_quiet(quiet or as_json)
    result = run(ExportRequest(model, format, out, model_options(weights, input_shape, mean, std, task, tokenizer),
                               DataOptions(data, text_column=text_column, label_column=label_column),
                               ExportOptions(route=exporter, opset=opset), overwrite))
    if as_json:
        print(json.dumps({"path": str(result.artifact.path), "validation": result.validation.to_json(),
                          "lineage": result.artifact.lineage_json()}, indent=2, default=str))
    else:
        out_console().print(f"wrote {result.artifact.path}: {result.validation.summary()}")


def bench(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Model files to compare (the first is the reference); or use --model.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Comma-separated models to build and compare, e.g. resnet50,mobilenet_v2.")] = None,
    backends: Annotated[str, typer.Option(help=f"Comma-separated: torch, {BACKEND_NAMES}.")] = "torch,onnxruntime",
    precisions: Annotated[str, typer.Option(help="Comma-separated: fp32, int8, fp16.")] = "fp32,int8",
    devices: Annotated[str, typer.Option(help="Comma-separated: cpu (all cores), edge (one pinned core + roofline estimates), cuda.")] = "cpu",
    batch: Annotated[str, typer.Option(help="Comma-separated batch sizes, e.g. 1,8.")] = "1",
    data: Annotated[Optional[str], typer.Option(help="fashion-mnist, digits, photos, synthetic, an ImageFolder path or a folder of images, or your own .txt/.csv/.jsonl/.npz file (default: the model's own; synthetic for files).")] = None,
    text_column: TextColumnOpt = None,
    label_column: LabelColumnOpt = None,
    weights: WeightsOpt = None,
    input_shape: ShapeOpt = None,
    mean: MeanOpt = None,
    std: StdOpt = None,
    task: TaskOpt = None,
    tokenizer: TokenizerOpt = None,
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
    from dlcompress.benchmarks.harness import BenchOptions
    from dlcompress.recipes.common import DataOptions

    set_quiet(quiet or as_json)
    batches = int_list(batch, "--batch")
    if model:
        from dlcompress.benchmarks.gates import Gates
        from dlcompress.recipes.bench_models import BenchRequest, bench_models

        if paths:
            raise DLCompressError("give either model files or --model, not both")
        request = BenchRequest(
            models=tuple(str_list(model)), backends=tuple(str_list(backends)), precisions=tuple(str_list(precisions)),
            devices=tuple(str_list(devices)), batches=tuple(batches),
            model_options=model_options(weights, input_shape, mean, std, task, tokenizer),
            data=DataOptions(data, calib_samples, eval_samples, text_column=text_column, label_column=label_column),
            bench=BenchOptions(max_seconds=bench_seconds),
            gates=Gates(min_metric, max_drop), threads=threads, out=out, overwrite=overwrite,
        )
        report, folder = bench_models(request)
    else:
        from dlcompress.recipes.bench import BenchFilesRequest, bench_files

        if not paths:
            raise DLCompressError("nothing to benchmark", "give model files, or --model NAME[,NAME...]")
        report = bench_files(BenchFilesRequest(tuple(paths), model_options(weights, input_shape, mean, std, task, tokenizer),
                                               DataOptions(data or "synthetic", calib_samples, eval_samples,
                                                           text_column=text_column, label_column=label_column),
                                               BenchOptions(batch=batches[0], max_seconds=bench_seconds), threads, out, overwrite))
        folder = out
    if as_json:
        print(report.dumps())
    else:
        report.render(out_console())
        if folder is not None:
            out_console().print(f"wrote {folder}/")
