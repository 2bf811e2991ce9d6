"""``dlcompress prune | depthwise | distill | pipeline``: the torch compression stages, alone or chained with
export and quantization. Thin: parse options into the API's dataclasses, run, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from dlcompress.commands.options import BACKEND_NAMES, SaveRecipeOpt, save_recipe_of
from dlcompress.toolkit.progress import set_quiet

# ---- options shared by these commands ------------------------------------------------------------------
Model = Annotated[str, typer.Option("--model", "-m", help="Zoo name or file.py:factory (a torch model).")]
Weights = Annotated[Optional[str], typer.Option(help="Checkpoint (e.g. from dlcompress train, or a pruned/depthwise model.<step>.pt).")]
Shape = Annotated[Optional[str], typer.Option("--input-shape", help="Input shape with batch first (factories), e.g. 1,3,224,224.")]
Data = Annotated[Optional[str], typer.Option(help="fashion-mnist, digits, an ImageFolder path, ... Default: the checkpoint's dataset, else the model's.")]
EvalSamples = Annotated[int, typer.Option("--eval-samples", min=0, help="Held-out samples to evaluate each step on (0 = all).")]
Batch = Annotated[int, typer.Option(min=1, help="Batch size for latency measurement.")]
Threads = Annotated[Optional[int], typer.Option(min=1, help="Threads per runtime (default: all cores).")]
BenchSeconds = Annotated[float, typer.Option("--bench-seconds", min=1.0, help="Time budget for latency measurement.")]
Out = Annotated[Optional[Path], typer.Option(help="Output folder (default: dlcompress-out/<model>-<command>-<time>/).")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the report JSON on stdout (progress stays on stderr).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
# pruning
Ratio = Annotated[Optional[float], typer.Option(help="Fraction of channels (structured) or weights (unstructured) to remove.")]
TargetMacs = Annotated[Optional[float], typer.Option("--target-macs", help="Structured: prune until MACs <= this fraction of the original.")]
Method = Annotated[str, typer.Option("--method", help="structured (channels, Torch-Pruning) or unstructured (magnitude sparsity).")]
Importance = Annotated[str, typer.Option(help="Channel importance: magnitude, bn_scale, taylor.")]
GlobalPruning = Annotated[bool, typer.Option("--global/--uniform", help="Rank channels across layers (global) or prune every layer alike.")]
Ignore = Annotated[Optional[list[str]], typer.Option("--ignore", help="Layers to leave alone: NAME, re:PATTERN or type:CLASS (repeatable). The classifier is always kept.")]
PruneSteps = Annotated[int, typer.Option("--prune-steps", min=1, help="Pruning steps (fine-tuning after each with --finetune-epochs).")]
MaxLayerRatio = Annotated[float, typer.Option("--max-layer-ratio", help="No layer loses more than this fraction of its channels.")]
RoundTo = Annotated[Optional[int], typer.Option("--round-to", min=1, help="Keep channel counts multiples of this (e.g. 8 for SIMD-friendly widths).")]
FinetuneEpochs = Annotated[int, typer.Option("--finetune-epochs", min=0, help="Fine-tuning epochs (cross-entropy) after each pruning step.")]
# depthwise
Kernel = Annotated[Optional[list[int]], typer.Option("--kernel", help="Replace only convs with this kernel size (repeatable; default: every K>1).")]
DwScope = Annotated[Optional[list[str]], typer.Option("--scope", help="Replace only these layers: NAME, re:PATTERN or type:CLASS (repeatable).")]
DwIgnore = Annotated[Optional[list[str]], typer.Option("--ignore", help="Never replace these layers (repeatable).")]
DwInit = Annotated[str, typer.Option("--init", help="svd (per-channel rank-1 approximation of the original kernel) or random.")]
MinIn = Annotated[int, typer.Option("--min-in-channels", min=1, help="Leave convs with fewer input channels dense (image stems).")]
# distillation / training
Teacher = Annotated[Optional[str], typer.Option(help="Teacher model (zoo name or factory). Default: the student's architecture.")]
TeacherWeights = Annotated[Optional[str], typer.Option("--teacher-weights", help="Teacher checkpoint.")]
Epochs = Annotated[int, typer.Option(min=1, help="Distillation epochs.")]
DistillEpochs = Annotated[int, typer.Option("--distill-epochs", min=0, help="Recover with this many epochs of distillation from the original model (0 = none).")]
TrainSamples = Annotated[Optional[int], typer.Option("--train-samples", min=1, help="Use only this many training images per epoch.")]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Training batch size (global: split across --nproc processes).")]
Lr = Annotated[float, typer.Option(min=0.0, help="Peak learning rate (one-cycle schedule).")]
Optim = Annotated[str, typer.Option(help="adamw or sgd.")]
Seed = Annotated[int, typer.Option(help="Random seed of the training order.")]
Temperature = Annotated[float, typer.Option(help="Softmax temperature of the soft targets (the KL term is scaled by T^2).")]
Alpha = Annotated[float, typer.Option(help="Weight of the hard-label loss; 1 - alpha weighs the soft-target loss.")]
Feature = Annotated[Optional[list[str]], typer.Option("--feature", help="Feature distillation pair STUDENT_LAYER:TEACHER_LAYER (repeatable).")]
FeatureWeight = Annotated[float, typer.Option("--feature-weight", min=0.0, help="Weight of the feature (MSE) loss.")]
Nproc = Annotated[int, typer.Option(min=1, help="Data-parallel processes for distillation (DDP; or launch under torchrun).")]
Device = Annotated[str, typer.Option(help="Training device: cpu (gloo) or cuda (nccl).")]
# pipeline: export and quantization
Steps = Annotated[str, typer.Option(help="Comma-separated steps: prune, depthwise, distill, export, quantize.")]
QMethod = Annotated[str, typer.Option("--quant-method", help="static (int8, calibrated), dynamic (int8 weights), fp16, int4 or int8-weights (weight-only, see dlcompress quantize --method).")]
Calibration = Annotated[str, typer.Option(help="minmax, entropy or percentile.")]
QuantFormat = Annotated[str, typer.Option("--quant-format", help="qoperator (fast on x86) or qdq.")]
CalibSamples = Annotated[int, typer.Option("--calib-samples", min=1, help="Calibration samples from the training split.")]
Backend = Annotated[str, typer.Option(help=f"Deployment backend of export/quantize: {BACKEND_NAMES}.")]
Exporter = Annotated[str, typer.Option("--exporter", help="Export route (auto tries them in order).")]
Opset = Annotated[Optional[int], typer.Option(help="ONNX opset (default: the exporter's).")]


def register(app: typer.Typer) -> None:
    """Add ``prune``, ``depthwise``, ``distill`` and ``pipeline`` to ``app``."""

    @app.command()
    def prune(
        model: Model, weights: Weights = None, input_shape: Shape = None, data: Data = None,
        ratio: Ratio = None, target_macs: TargetMacs = None, method: Method = "structured",
        importance: Importance = "magnitude", global_pruning: GlobalPruning = False, ignore: Ignore = None,
        prune_steps: PruneSteps = 1, max_layer_ratio: MaxLayerRatio = 0.9, round_to: RoundTo = None,
        finetune_epochs: FinetuneEpochs = 0, distill_epochs: DistillEpochs = 0, train_samples: TrainSamples = None,
        batch_size: BatchSize = 128, lr: Lr = 2e-3, temperature: Temperature = 4.0, alpha: Alpha = 0.5,
        eval_samples: EvalSamples = 1000, batch: Batch = 1, threads: Threads = None, bench_seconds: BenchSeconds = 20.0,
        out: Out = None, overwrite: Overwrite = False, save_recipe: SaveRecipeOpt = None, as_json: AsJson = False,
        quiet: Quiet = False,
    ) -> None:
        """Structured channel pruning (Torch-Pruning dependency graph) or unstructured sparsity, with a report of
        params, MACs and measured latency before and after."""
        from dlcompress.recipes.prune import PruneRequest
        from dlcompress.recipes.prune import prune as run
        from dlcompress.toolkit.stages.distill import DistillOptions

        set_quiet(quiet or as_json)
        request = PruneRequest(
            model, _prune_options(method, ratio, target_macs, importance, global_pruning, ignore, prune_steps,
                                  max_layer_ratio, round_to),
            _job(model, weights, input_shape, data, eval_samples, batch, threads, bench_seconds, out, overwrite),
            finetune=_train(finetune_epochs, train_samples, batch_size, lr) if finetune_epochs else None,
            recover=_train(distill_epochs, train_samples, batch_size, lr) if distill_epochs else None,
            distill=DistillOptions(temperature, alpha, eval_samples=eval_samples),
        )
        save_recipe_of(request, save_recipe)
        _show(run(request), as_json)

    @app.command()
    def depthwise(
        model: Model, weights: Weights = None, input_shape: Shape = None, data: Data = None,
        kernel: Kernel = None, scope: DwScope = None, ignore: DwIgnore = None, init: DwInit = "svd",
        min_in_channels: MinIn = 8, distill_epochs: DistillEpochs = 0, train_samples: TrainSamples = None,
        batch_size: BatchSize = 128, lr: Lr = 2e-3, temperature: Temperature = 4.0, alpha: Alpha = 0.5,
        nproc: Nproc = 1, eval_samples: EvalSamples = 1000, batch: Batch = 1, threads: Threads = None,
        bench_seconds: BenchSeconds = 20.0, out: Out = None, overwrite: Overwrite = False,
        save_recipe: SaveRecipeOpt = None, as_json: AsJson = False, quiet: Quiet = False,
    ) -> None:
        """Replace dense KxK convolutions by depthwise KxK + pointwise 1x1 (SVD-initialised), optionally recover
        with distillation; MACs per replaced layer and in total."""
        from dlcompress.recipes.depthwise import DepthwiseRequest
        from dlcompress.recipes.depthwise import depthwise as run
        from dlcompress.toolkit.scope import Scope
        from dlcompress.toolkit.stages.depthwise import DepthwiseOptions
        from dlcompress.toolkit.stages.distill import DistillOptions

        set_quiet(quiet or as_json)
        request = DepthwiseRequest(
            model, DepthwiseOptions(tuple(kernel or ()), Scope.parse(scope), Scope.parse(ignore), init, min_in_channels),
            _job(model, weights, input_shape, data, eval_samples, batch, threads, bench_seconds, out, overwrite),
            recover=_train(distill_epochs, train_samples, batch_size, lr) if distill_epochs else None,
            distill=DistillOptions(temperature, alpha, eval_samples=eval_samples), nproc=nproc,
        )
        save_recipe_of(request, save_recipe)
        _show(run(request), as_json)

    @app.command()
    def distill(
        model: Model, weights: Weights = None, input_shape: Shape = None, data: Data = None,
        teacher: Teacher = None, teacher_weights: TeacherWeights = None, epochs: Epochs = 1,
        train_samples: TrainSamples = None, batch_size: BatchSize = 128, lr: Lr = 2e-3, optimizer: Optim = "adamw",
        seed: Seed = 0, temperature: Temperature = 4.0, alpha: Alpha = 0.5, feature: Feature = None,
        feature_weight: FeatureWeight = 1.0, nproc: Nproc = 1, device: Device = "cpu",
        eval_samples: EvalSamples = 1000, batch: Batch = 1, threads: Threads = None, bench_seconds: BenchSeconds = 20.0,
        out: Out = None, overwrite: Overwrite = False, save_recipe: SaveRecipeOpt = None, as_json: AsJson = False,
        quiet: Quiet = False,
    ) -> None:
        """Knowledge distillation (soft targets with temperature + hard labels, optional feature matching) from a
        teacher into the student --model; --nproc N (or torchrun) trains data-parallel."""
        from dlcompress.recipes.distill import DistillRequest
        from dlcompress.recipes.distill import distill as run
        from dlcompress.recipes.pipeline import TeacherOptions
        from dlcompress.toolkit.stages.distill import DistillOptions

        set_quiet(quiet or as_json)
        request = DistillRequest(
            model, TeacherOptions(teacher, teacher_weights),
            _job(model, weights, input_shape, data, eval_samples, batch, threads, bench_seconds, out, overwrite,
                 fallback_weights=teacher_weights),
            _train(epochs, train_samples, batch_size, lr, optimizer, seed),
            DistillOptions(temperature, alpha, DistillOptions.parse_features(feature), feature_weight, eval_samples),
            nproc, device,
        )
        save_recipe_of(request, save_recipe)
        _show(run(request), as_json)

    @app.command()
    def pipeline(
        model: Model, weights: Weights = None, input_shape: Shape = None, data: Data = None,
        steps: Steps = "prune,distill,export,quantize",
        ratio: Ratio = None, target_macs: TargetMacs = None,
        method: Annotated[str, typer.Option("--prune-method", help="structured (channels) or unstructured (sparsity).")] = "structured",
        importance: Importance = "magnitude", global_pruning: GlobalPruning = False,
        ignore: Annotated[Optional[list[str]], typer.Option("--prune-ignore", help="Pruning: layers to leave alone, NAME, re:PATTERN or type:CLASS (repeatable).")] = None,
        prune_steps: PruneSteps = 1, max_layer_ratio: MaxLayerRatio = 0.9, round_to: RoundTo = None,
        finetune_epochs: FinetuneEpochs = 0,
        kernel: Kernel = None, depthwise_scope: Annotated[Optional[list[str]], typer.Option("--depthwise-scope", help="Depthwise: replace only these layers (repeatable).")] = None,
        depthwise_ignore: Annotated[Optional[list[str]], typer.Option("--depthwise-ignore", help="Depthwise: never replace these layers (repeatable).")] = None,
        init: DwInit = "svd", min_in_channels: MinIn = 8,
        teacher: Teacher = None, teacher_weights: TeacherWeights = None, epochs: Epochs = 1,
        train_samples: TrainSamples = None, batch_size: BatchSize = 128, lr: Lr = 2e-3, optimizer: Optim = "adamw",
        seed: Seed = 0, temperature: Temperature = 4.0, alpha: Alpha = 0.5, feature: Feature = None,
        feature_weight: FeatureWeight = 1.0, nproc: Nproc = 1, device: Device = "cpu",
        backend: Backend = "onnxruntime", exporter: Exporter = "auto", opset: Opset = None,
        quant_method: QMethod = "static", calibration: Calibration = "minmax", quant_format: QuantFormat = "qoperator",
        calib_samples: CalibSamples = 64,
        eval_samples: EvalSamples = 1000, batch: Batch = 1, threads: Threads = None, bench_seconds: BenchSeconds = 20.0,
        out: Out = None, overwrite: Overwrite = False, save_recipe: SaveRecipeOpt = None, as_json: AsJson = False,
        quiet: Quiet = False,
    ) -> None:
        """Chain steps (e.g. prune -> distill -> export -> quantize) and report each step's params, MACs, measured
        latency and accuracy side by side."""
        from dlcompress.exporters import ExportOptions
        from dlcompress.recipes.pipeline import (
            PipelineRequest,
            StepOptions,
            TeacherOptions,
            run_pipeline,
        )
        from dlcompress.toolkit.scope import Scope
        from dlcompress.toolkit.stages.depthwise import DepthwiseOptions
        from dlcompress.toolkit.stages.distill import DistillOptions
        from dlcompress.toolkit.stages.quantize import QuantizeOptions

        set_quiet(quiet or as_json)
        names = tuple(s.strip() for s in steps.split(",") if s.strip())
        options = StepOptions(
            prune=_prune_options(method, ratio, target_macs, importance, global_pruning, ignore, prune_steps,
                                 max_layer_ratio, round_to) if "prune" in names else None,
            finetune=_train(finetune_epochs, train_samples, batch_size, lr, optimizer, seed) if finetune_epochs else None,
            depthwise=DepthwiseOptions(tuple(kernel or ()), Scope.parse(depthwise_scope), Scope.parse(depthwise_ignore),
                                       init, min_in_channels),
            distill=DistillOptions(temperature, alpha, DistillOptions.parse_features(feature), feature_weight, eval_samples),
            train=_train(epochs, train_samples, batch_size, lr, optimizer, seed),
            teacher=TeacherOptions(teacher, teacher_weights), nproc=nproc, device=device, backend=backend,
            export=ExportOptions(route=exporter, opset=opset),
            quantize=QuantizeOptions(method=quant_method, calibration=calibration, quant_format=quant_format,
                                     samples=calib_samples),
        )
        job = _job(model, weights, input_shape, data, eval_samples, batch, threads, bench_seconds, out, overwrite,
                   calib_samples=calib_samples)
        request = PipelineRequest(model, names, options, job)
        save_recipe_of(request, save_recipe)
        _show(run_pipeline(request), as_json)


# ---- helpers --------------------------------------------------------------------------------------------
def _job(model: str, weights: str | None, input_shape: str | None, data: str | None, eval_samples: int, batch: int,
         threads: int | None, bench_seconds: float, out: Path | None, overwrite: bool, calib_samples: int = 64,
         fallback_weights: str | None = None) -> Any:
    from dlcompress.benchmarks.harness import BenchOptions
    from dlcompress.recipes.common import DataOptions
    from dlcompress.recipes.pipeline import JobOptions, checkpoint_dataset
    from dlcompress.toolkit.model_options import ModelOptions, parse_shape

    data = data or checkpoint_dataset(weights) or checkpoint_dataset(fallback_weights)
    return JobOptions(ModelOptions(weights=weights, input_shape=parse_shape(input_shape)),
                      DataOptions(data, calib_samples, eval_samples), BenchOptions(batch=batch, max_seconds=bench_seconds),
                      threads, out, overwrite)


def _train(epochs: int, samples: int | None, batch_size: int, lr: float, optimizer: str = "adamw", seed: int = 0) -> Any:
    from dlcompress.toolkit.training import TrainOptions

    return TrainOptions(epochs, batch_size, lr, optimizer=optimizer, seed=seed, train_samples=samples)


def _prune_options(method: str, ratio: float | None, target_macs: float | None, importance: str, global_pruning: bool,
                   ignore: list[str] | None, steps: int, max_layer_ratio: float, round_to: int | None) -> Any:
    from dlcompress.toolkit.scope import Scope
    from dlcompress.toolkit.stages.prune import PruneOptions

    return PruneOptions(method, ratio, target_macs, importance, global_pruning, steps, Scope.parse(ignore),
                        max_layer_ratio, round_to)


def _show(result: Any, as_json: bool) -> None:
    """Rank 0 prints the report (and per-step / per-layer tables); other data-parallel ranks print nothing."""
    from rich.markup import escape
    from rich.table import Table

    from dlcompress.commands.options import out_console
    from dlcompress.recipes.pipeline import layer_sections, steps_table

    if not result.is_main or result.report is None:
        return
    report = result.report
    if as_json:
        print(report.dumps())
        return
    console = out_console()
    report.render(console)
    sections = [(f"dlcompress {report.command}: each step", *steps_table(report))]
    sections += layer_sections(result.variants or [])
    for title, header, rows in sections:
        t = Table(title=escape(title))
        for i, h in enumerate(header):
            t.add_column(escape(h), justify="left" if i == 0 else "right")
        for r in rows:
            t.add_row(*[escape(c) for c in r])
        console.print(t)
    console.print(f"wrote {result.out_dir}/ (report.json, report.md, lineage.json, " + ", ".join(report.artifacts) + ")")

