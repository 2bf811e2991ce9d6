"""``dlcompress pipeline``: chain compression steps on one model and report every step side by side.

``--steps prune,distill,export,quantize`` takes the model through each step in order. Torch steps (prune,
depthwise, distill) come first, then ``export`` (to the backend's format, validated against torch), then
``quantize``; the chain is checked before any work. Every intermediate model is a row of one report:
params, MACs, measured latency (variants interleaved), top-1 and fidelity against the original model —
fewer MACs do not always mean lower latency, and the report shows which step paid off.

``dlcompress prune``, ``depthwise`` and ``distill`` are pipelines of one or two steps (see their API modules).
Torch checkpoints of each step (``model.<step>.pt``) reload with ``--model NAME --weights FILE``: their
metadata carries the replayable structure edits (pruning plan, layer replacements), also written as
``plan.<step>.json``. Data-parallel: under torchrun every rank runs the training steps (DDP) and rank 0 alone
does the rest and writes the output folder; ``--nproc N`` spawns N processes for the distill step.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dlcompress.benchmarks.harness import BenchOptions
from dlcompress.benchmarks.report import Report, Row, human_count
from dlcompress.exporters import ExportOptions
from dlcompress.recipes.common import (
    DataOptions,
    Prepared,
    Variant,
    init_runtimes,
    measure_variants,
    new_report,
    prepare,
    write_report,
)
from dlcompress.recipes.loading import load_model
from dlcompress.toolkit import ddp
from dlcompress.toolkit.artifact import Artifact, Format
from dlcompress.toolkit.complexity import count_macs, count_params
from dlcompress.toolkit.data import load_dataset
from dlcompress.toolkit.errors import DatasetError, DLCompressError, UnsupportedError
from dlcompress.toolkit.model_options import ModelOptions
from dlcompress.toolkit.outputs import atomic_dir, check_writable, default_out_dir
from dlcompress.toolkit.progress import note, step
from dlcompress.toolkit.registry import Registry
from dlcompress.toolkit.stages.depthwise import DepthwiseOptions, replace_depthwise
from dlcompress.toolkit.stages.distill import DistillOptions, distill
from dlcompress.toolkit.stages.prune import (
    IMPORTANCES,
    SPARSITY_NOTE,
    PruneOptions,
    prune,
)
from dlcompress.toolkit.stages.quantize import QuantizeOptions
from dlcompress.toolkit.stages.structure import (
    example_inputs,
    save_checkpoint,
    structure_of,
)
from dlcompress.toolkit.training import (
    BN_REESTIMATION_IMAGES,
    TrainOptions,
    evaluate_top1,
    fit,
    reestimate_batchnorm,
)

TAYLOR_BATCHES = 4  # labelled training batches whose gradients rank channels for --importance taylor
NO_GAIN_SPEEDUP = 1.05  # a step that cuts MACs by >= 20% but gains less than 5% latency gets a note


@dataclass(frozen=True)
class TeacherOptions:
    """The distillation teacher: a zoo name / factory and weights. Both None = the pipeline's input model;
    weights alone = the input model's architecture with these weights."""

    model: str | None = None
    weights: str | None = None


@dataclass(frozen=True)
class JobOptions:
    """What every compression command shares: how to load the model and data, how to time, where to write."""

    model_options: ModelOptions = field(default_factory=ModelOptions)
    data: DataOptions = field(default_factory=DataOptions)
    bench: BenchOptions = field(default_factory=lambda: BenchOptions(max_seconds=20.0))
    threads: int | None = None
    out: Path | None = None
    overwrite: bool = False
    inference_precision: str | None = None
    deliver: str = "fastest"
    """Which snapshot a job ending in ``quantize`` delivers: ``fastest`` (never a quantized model slower than its
    fp32 export) or ``quantized`` (the last one, whatever its speed)."""
    bundle: bool = False
    """Write the mobile bundle (``bundle.json`` + a usage snippet, :mod:`dlcompress.exporters.bundle`) of the
    delivered file into the output folder."""


@dataclass(frozen=True)
class StepOptions:
    """Options of every step kind (a step uses its own group). ``finetune``: training after each pruning step
    (None = none); ``train``: the distillation run; ``nproc``: processes for data-parallel distillation."""

    prune: PruneOptions | None = None
    finetune: TrainOptions | None = None
    depthwise: DepthwiseOptions = field(default_factory=DepthwiseOptions)
    distill: DistillOptions = field(default_factory=DistillOptions)
    train: TrainOptions = field(default_factory=TrainOptions)
    teacher: TeacherOptions = field(default_factory=TeacherOptions)
    nproc: int = 1
    device: str = "cpu"
    backend: str = "onnxruntime"
    export: ExportOptions = field(default_factory=ExportOptions)
    quantize: QuantizeOptions = field(default_factory=QuantizeOptions)


@dataclass(frozen=True)
class PipelineRequest:
    """A job as data: the model, its steps (run in order by :func:`run_pipeline`) and their options.
    ``measure_input``: the input model is the first, reference row (prune, distill, pipeline); without it the
    first step's result is (quantize: the exported fp32 model). ``labels``: each step's row name (default: the
    step's own)."""

    model: str
    steps: tuple[str, ...]
    options: StepOptions = field(default_factory=StepOptions)
    job: JobOptions = field(default_factory=JobOptions)
    command: str = "pipeline"
    measure_input: bool = True
    labels: tuple[str, ...] | None = None
    backends: tuple[str, ...] | None = None
    """Per step, the backend it exports to or quantizes for (None: ``options.backend`` for every step). With
    several backends an ``export`` may follow a ``quantize``: it exports the latest torch model again, and the
    job delivers the fastest file that passes the fidelity gate (``--backend auto``)."""

    def backend_of(self, index: int) -> str:
        """The backend of step ``index``."""
        return self.backends[index] if self.backends else self.options.backend

    @property
    def compares_backends(self) -> bool:
        return self.backends is not None and len(set(self.backends)) > 1


@dataclass(frozen=True)
class PipelineResult:
    """``report`` and ``artifact`` (the last step's) are None on data-parallel ranks other than 0."""

    report: Report | None
    out_dir: Path
    artifact: Artifact | None
    is_main: bool = True
    variants: list[Variant] | None = None


@dataclass
class PipelineState:
    """What the steps pass along: the current artifact, the snapshots to measure, the output folder."""

    request: PipelineRequest
    prepared: Prepared
    runtime_options: Any
    parallel: ddp.Parallel | None
    current: Artifact
    variants: list[Variant] = field(default_factory=list)
    folder: Path | None = None
    teacher: Artifact | None = None
    calibration_samples: int | None = None
    saved: dict[str, str] = field(default_factory=dict)
    held_out: Any = None
    backend: str = "onnxruntime"
    """The running step's backend (:meth:`PipelineRequest.backend_of`)."""
    torch_model: Artifact | None = None
    """The latest torch model: what a second ``export`` (another backend) exports."""


@dataclass(frozen=True)
class PipelineStep:
    """A step kind: what it takes (torch or exported) and makes, and how it runs."""

    run: Callable[[PipelineState, str], Variant]
    accepts: str
    produces: str
    trains: bool = False
    description: str = ""


STEPS: Registry[PipelineStep] = Registry("pipeline step")


def checkpoint_dataset(weights: str | None) -> str | None:
    """The dataset a dlcompress checkpoint was trained on (its metadata), so ``--data`` can default to it."""
    if not weights or not Path(weights).is_file():
        return None
    from dlcompress.toolkit.checkpoint import CHECKPOINT_META_KEY

    try:
        meta = torch.load(weights, map_location="cpu", weights_only=True).get(CHECKPOINT_META_KEY)
    except Exception:  # noqa: BLE001 - unreadable files are reported by the model loader
        return None
    name = meta.get("dataset") if isinstance(meta, dict) else None
    from dlcompress.toolkit.data import DATASETS

    return name if isinstance(name, str) and name in DATASETS else None  # a folder's name alone is no path


def check_steps(steps: tuple[str, ...], several_backends: bool = False) -> list[PipelineStep]:
    """The steps, validated as a chain before any work (torch steps, then export, then quantize).
    ``several_backends``: an ``export`` may follow a ``quantize`` (the torch model exported for the next backend)."""
    if not steps:
        raise DLCompressError("no steps given", f"e.g. --steps prune,distill,export,quantize (known: {', '.join(STEPS.names())})")
    kinds, stage = [], "torch"
    for name in steps:
        kind = STEPS.get(name)
        if several_backends and name == "export" and stage == "exported":
            stage = "torch"
        if kind.accepts != stage:
            want = "a torch model (put it before export)" if kind.accepts == "torch" else "an exported model (put export before it)"
            raise DLCompressError(f"step {name!r} needs {want}, but gets {'a torch' if stage == 'torch' else 'an exported'} model there",
                                  "order: prune/depthwise/distill, then export, then quantize")
        kinds.append(kind)
        stage = kind.produces
    return kinds


def run_pipeline(request: PipelineRequest) -> PipelineResult:
    """Run the steps, measure every snapshot, write the folder atomically (rank 0 only under torchrun)."""
    kinds = check_steps(request.steps, request.compares_backends)
    job, opts = request.job, request.options
    out = job.out or default_out_dir(f"{request.model.rsplit('/', 1)[-1].replace(':', '_')}-{request.command}")
    check_writable(out, job.overwrite)
    if opts.nproc > 1 and ddp.in_torchrun():
        raise DLCompressError("--nproc cannot be used inside torchrun", "torchrun already started the processes; drop --nproc")
    if "export" in request.steps:
        from dlcompress.toolkit.backends import BACKENDS

        for name in dict.fromkeys(request.backends or (opts.backend,)):
            BACKENDS.get(name).require()
    parallel = ddp.from_env(opts.device)
    try:
        return _run(request, kinds, out, parallel)
    finally:
        if parallel is not None:
            ddp.shutdown()


def _run(request: PipelineRequest, kinds: list[PipelineStep], out: Path, parallel: ddp.Parallel | None) -> PipelineResult:
    job = request.job
    if job.threads:
        torch.set_num_threads(job.threads)  # training steps too, like dlcompress train --threads
    runtime_options = init_runtimes(job.threads)
    if job.inference_precision is not None:
        runtime_options = dataclasses.replace(runtime_options, inference_precision=job.inference_precision)
    prepared = prepare(request.model, job.model_options, job.data)
    if prepared.artifact.format is not Format.TORCH and any(k.produces == "torch" for k in kinds):  # export copies
        raise UnsupportedError(f"{request.model} is a {prepared.artifact.format} model; {request.command} needs a torch model",
                               "pass a zoo name or a factory, with --weights")
    needs_labels = any(k.trains for k in kinds) or (request.options.prune is not None and request.options.finetune is not None)
    if needs_labels and not prepared.labelled:
        raise DatasetError(f"{request.command} trains the model, which needs labelled data; {prepared.data.name} has none",
                           "use --data fashion-mnist, digits or a labelled ImageFolder")
    state = PipelineState(request, prepared, runtime_options, parallel, prepared.artifact,
                          backend=request.backend_of(0), torch_model=prepared.artifact)
    if request.measure_input:
        state.variants.append(Variant("original", prepared.artifact, "torch", status="input"))
    if "quantize" in request.steps and request.options.quantize.max_drop is not None:
        from dlcompress.recipes.export_steps import held_out_data

        state.held_out = held_out_data(prepared, job.data)  # fails before any work without labelled data
    names = list(request.labels) if request.labels else _variant_names(request.steps)
    if parallel is not None and not parallel.is_main:  # helper rank: train with the others, write nothing
        last = max((i for i, k in enumerate(kinds) if k.trains or request.steps[i] == "prune"), default=-1)
        for i in range(last + 1):
            state.current = kinds[i].run(state, names[i]).artifact
        return PipelineResult(None, out, None, is_main=False)
    with atomic_dir(out, job.overwrite) as folder:
        state.folder = folder
        for i, (name, kind) in enumerate(zip(names, kinds)):
            state.backend = request.backend_of(i)
            on = f" ({state.backend})" if request.compares_backends else ""
            step(f"[{i + 1}/{len(kinds)}] {request.steps[i]}{on}: {kind.description}")
            variant = kind.run(state, name)
            state.current = variant.artifact
            state.variants.append(variant)
            if variant.artifact.format is Format.TORCH:
                state.torch_model = variant.artifact
                _save_torch(state, name, variant.artifact)
        report = _measure(state)
        if job.bundle:
            _write_bundle(state, report)
        lineage = {_file_of(state, v): v.artifact.lineage_json() for v in _outputs_of(state)}
        write_report(report, folder, lineage)
        if request.measure_input:
            with (folder / "report.md").open("a") as f:
                f.write(steps_markdown(report, state.variants))
    return PipelineResult(report, out, state.current, variants=state.variants)


def _write_bundle(state: PipelineState, report: Report) -> None:
    """The delivered file's mobile bundle; said in the report's artifacts and on the terminal."""
    from dlcompress.exporters.bundle import image_preprocess, write_bundle

    delivered = report.delivered.get("file")
    variant = next((v for v in _outputs_of(state) if v.artifact.path is not None and v.artifact.path.name == delivered), None)
    if variant is None:
        _note_once(state, "--bundle: no exported file was delivered, so no bundle was written")
        return
    t = state.prepared.transform
    pre = image_preprocess(t) if t is not None else None
    names = getattr(state.prepared.data, "class_names", None) if state.prepared.labelled else None
    manifest, code = write_bundle(variant.artifact, state.folder, pre, names)  # type: ignore[arg-type]
    report.artifacts[manifest.name] = f"mobile bundle of {delivered}"
    report.artifacts[f"{code.parent.name}/{code.name}"] = f"usage snippet for {delivered}"
    step(f"bundle: {manifest.name} and {code.parent.name}/{code.name} for {delivered}")


def _outputs_of(state: PipelineState) -> list[Variant]:
    """The variants the job wrote (all but the input model, when that is measured)."""
    return state.variants[1:] if state.request.measure_input else state.variants


def _variant_names(steps: tuple[str, ...]) -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for s in steps:
        seen[s] = seen.get(s, 0) + 1
        names.append(s if seen[s] == 1 else f"{s}{seen[s]}")
    return names


def _save_torch(state: PipelineState, name: str, art: Artifact) -> None:
    from dlcompress.toolkit.outputs import atomic_file

    assert state.folder is not None
    path = state.folder / f"model.{name}.pt"
    with atomic_file(path, overwrite=True) as tmp:
        save_checkpoint(art, tmp, {"dataset": state.prepared.data.name})
    state.saved[name] = path.name
    edits = structure_of(art)
    if edits and art.lineage[-1].effect.get("structure"):
        plan = {"model": art.spec.name, "build_args": dict(art.spec.build_args), "structure": edits}
        (state.folder / f"plan.{name}.json").write_text(json.dumps(plan, indent=1))


def _file_of(state: PipelineState, v: Variant) -> str:
    if v.artifact.path is not None:
        return v.artifact.path.name
    return state.saved.get(v.name, v.name)


# ---------------------------------------------------------------------------------------------------------
# steps


def _finetune(state: PipelineState) -> Callable[[torch.nn.Module, int, int], dict[str, Any] | None] | None:
    options = state.request.options.finetune
    if options is None:
        return None
    prepared = state.prepared
    test = prepared.data.test.head(state.request.job.data.eval_samples or None)

    def run(model: torch.nn.Module, index: int, total: int) -> dict[str, Any]:
        step(f"fine-tuning after pruning step {index}/{total} ({options.epochs} epoch(s))")
        history = fit(model, prepared.data.train, prepared.transform, options, test, parallel=state.parallel)  # type: ignore[arg-type]
        reestimate_batchnorm(model, prepared.data.train, prepared.transform)  # type: ignore[arg-type]
        if state.parallel is not None:
            state.parallel.sync_buffers(model)
        top1 = evaluate_top1(model, test, prepared.transform, parallel=state.parallel)  # type: ignore[arg-type]
        return {"epochs": options.epochs, "top1": round(top1, 6), "top1_before_bn_reestimation": history.final_top1}

    return run


def _recalibrate(state: PipelineState) -> Callable[[torch.nn.Module], dict[str, Any]] | None:
    """BatchNorm re-estimation on real training images after a structural step (None without image data)."""
    prepared = state.prepared
    if prepared.transform is None or prepared.data.name == "synthetic":
        return None

    def run(model: torch.nn.Module) -> dict[str, Any]:
        layers = reestimate_batchnorm(model, prepared.data.train, prepared.transform)  # type: ignore[arg-type]
        return {"batchnorm_layers": layers, "images": min(len(prepared.data.train), BN_REESTIMATION_IMAGES),
                "data": prepared.data.name}

    return run


def _taylor_batches(state: PipelineState) -> Callable[[], list[tuple[torch.Tensor, torch.Tensor]]]:
    prepared = state.prepared
    source = prepared.data.train
    if source.labels is None or prepared.transform is None:
        raise DatasetError("--importance taylor needs labelled data", "use --data fashion-mnist, or magnitude / bn_scale")
    idx = np.random.default_rng(0).permutation(len(source))[:TAYLOR_BATCHES * 32]

    def batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(torch.from_numpy(prepared.transform(source.batch(idx[i:i + 32]))),  # type: ignore[misc]
                 torch.from_numpy(source.labels[idx[i:i + 32]])) for i in range(0, len(idx), 32)]

    return batches


def run_prune(state: PipelineState, name: str) -> Variant:
    options = state.request.options.prune
    if options is None:
        raise DLCompressError("the prune step needs --ratio or --target-macs")
    needs = IMPORTANCES.get(options.importance).needs_gradients and options.method == "structured"
    art = prune(state.current, options, _finetune(state), _taylor_batches(state) if needs else None, _recalibrate(state))
    e = art.lineage[-1].effect
    if options.method == "unstructured":
        step(f"sparsity {e['sparsity']:.1%} of conv/linear weights (dense MACs unchanged)")
        _note_once(state, SPARSITY_NOTE)
    else:
        step(f"MACs {_big(e['macs_before'])} -> {_big(e['macs_after'])} ({e['macs_ratio']:.1%}), "
             f"params {_big(e['params_before'])} -> {_big(e['params_after'])}")
        if e.get("target_reached") is False:
            msg = (f"--target-macs {options.target_macs} not reached: stopped at {e['macs_ratio']:.1%} of the MACs "
                   f"(no layer may lose more than {options.max_layer_ratio:.0%} of its channels; raise --max-layer-ratio)")
            note(msg)
            state.prepared.notes.append(msg)
    return Variant(name, art, "torch", status="pruned")


def run_depthwise(state: PipelineState, name: str) -> Variant:
    art = replace_depthwise(state.current, state.request.options.depthwise, _recalibrate(state))
    e = art.lineage[-1].effect
    step(f"replaced {e['replaced']} convolutions: their MACs {_big(e['replaced_macs_before'])} -> "
         f"{_big(e['replaced_macs_after'])} ({e['replaced_macs_reduction']:.1f}x fewer); all conv MACs "
         f"{e['conv_macs_reduction']:.1f}x fewer")
    return Variant(name, art, "torch", status="replaced")


def _teacher(state: PipelineState) -> Artifact:
    if state.teacher is not None:
        return state.teacher
    t = state.request.options.teacher
    if t.model is None and t.weights is None:
        teacher = state.prepared.artifact
    else:
        model = t.model or state.request.model
        teacher = load_model(model, ModelOptions(weights=t.weights), state.prepared.data)
        if teacher.format is not Format.TORCH:
            raise UnsupportedError(f"the teacher {model} is a {teacher.format} model; distillation needs a torch teacher")
    if teacher.lineage and teacher.lineage[0].effect.get("weights") == "random-init":
        raise DLCompressError(f"the teacher {teacher.spec.name} has random weights, so it has nothing to teach",
                              "pass trained weights: --weights for the input model, or --teacher/--teacher-weights")
    state.teacher = teacher
    return teacher


def run_distill(state: PipelineState, name: str) -> Variant:
    opts = state.request.options
    teacher = _teacher(state)
    data = state.prepared.data
    step(f"distilling from {teacher.spec.name} (T={opts.distill.temperature:g}, alpha={opts.distill.alpha:g}) for "
         f"{opts.train.epochs} epoch(s) on {opts.train.train_samples or len(data.train)} {data.name} images"
         + (f", {opts.nproc} processes" if opts.nproc > 1 else ""))
    if state.parallel is not None:
        art = distill(state.current, teacher, data, opts.train, opts.distill, state.parallel)
    elif opts.nproc > 1:
        job = DistillJob(_portable(state.current), _portable(teacher), data.name, opts.train, opts.distill)
        result = ddp.launch(distill_worker, (job,), opts.nproc, state.request.job.threads, opts.device)
        art = state.current.derive(result.lineage[-1], model=result.model)
    else:
        art = distill(state.current, teacher, data, opts.train, opts.distill, device=opts.device)
    e = art.lineage[-1].effect
    step(f"top-1 {e['student_top1_before']:.4f} -> {e['student_top1_after']:.4f} (teacher {e['teacher_top1']:.4f}, "
         f"{e['eval_samples']} held-out images)")
    return Variant(name, art, "torch", status="distilled")


@dataclass(frozen=True)
class DistillJob:
    """What a spawned data-parallel rank needs: models (picklable), the dataset's name, the options."""

    student: Artifact
    teacher: Artifact
    data: str
    train: TrainOptions
    options: DistillOptions


def distill_worker(job: DistillJob, parallel: ddp.Parallel | None) -> Artifact:
    """One rank of ``--nproc`` distillation (module-level so spawned processes can import it)."""
    return distill(job.student, job.teacher, load_dataset(job.data), job.train, job.options, parallel)


def _portable(art: Artifact) -> Artifact:
    """The artifact without its spec's builder (a factory's lambda cannot be pickled; workers need only the module)."""
    return Artifact(Format.TORCH, art.spec.replace(builder=_built_elsewhere), model=art.model, lineage=art.lineage)


def _built_elsewhere() -> None:
    raise DLCompressError("this model was built in the parent process")


def run_export(state: PipelineState, name: str) -> Variant:
    from dlcompress.recipes.export_steps import export_validated
    from dlcompress.toolkit.backends import BACKENDS

    opts = state.request.options
    backend = BACKENDS.get(state.backend).require()
    source = state.current if state.current.format is Format.TORCH or state.torch_model is None else state.torch_model
    prepared = dataclasses.replace(state.prepared, artifact=source)
    v = export_validated(prepared, state.folder, backend, opts.export, state.runtime_options)  # type: ignore[arg-type]
    return dataclasses.replace(v, name=str(backend.format) if name == "export" else name)


def run_quantize(state: PipelineState, name: str) -> Variant:
    from dlcompress.recipes.export_steps import quantize_step
    from dlcompress.toolkit.backends import BACKENDS

    opts = state.request.options
    backend = BACKENDS.get(state.backend).require()
    prepared = dataclasses.replace(state.prepared, artifact=state.current)
    variant, state.calibration_samples = quantize_step(prepared, state.current, opts.quantize, state.request.job.data,
                                                       backend, state.folder, state.held_out)  # type: ignore[arg-type]
    return dataclasses.replace(variant, name=name) if name != "quantize" else variant


STEPS.add("prune", PipelineStep(run_prune, "torch", "torch", description="structured channel pruning (or sparsity)"))
STEPS.add("depthwise", PipelineStep(run_depthwise, "torch", "torch",
                                    description="dense KxK convs -> depthwise KxK + pointwise 1x1"))
STEPS.add("distill", PipelineStep(run_distill, "torch", "torch", trains=True,
                                  description="knowledge distillation from the teacher"))
STEPS.add("export", PipelineStep(run_export, "torch", "exported", description="export and validate against the source model"))
STEPS.add("quantize", PipelineStep(run_quantize, "exported", "exported", description="post-training quantization"))


# ---------------------------------------------------------------------------------------------------------
# measuring and reporting


def _measure(state: PipelineState) -> Report:
    request, prepared = state.request, state.prepared
    rows, diagnosis = measure_variants(state.variants, prepared, request.job.data, request.job.bench,
                                       state.runtime_options)
    source: Artifact | None = None  # the latest torch model: exported rows have its params and MACs
    for v, row in zip(state.variants, rows):
        if v.artifact.model is not None:
            source = v.artifact
            row.size_bytes = sum(t.numel() * t.element_size() for t in v.artifact.model.state_dict().values())
            row.path = state.saved.get(v.name)
        if source is not None and state.request.measure_input:
            row.params = count_params(source.model)  # type: ignore[arg-type]
            row.macs = count_macs(source.model, example_inputs(source))  # type: ignore[arg-type]
    ref = rows[0]
    for r in rows:
        r.size_ratio_vs_reference = round(r.size_bytes / ref.size_bytes, 4) if r.size_bytes and ref.size_bytes else None
    report = new_report(request.command, prepared, request.job.data, state.calibration_samples, request.job.bench)
    report.rows, report.diagnosis = rows, diagnosis
    report.notes += _latency_notes(state.variants, rows)
    if request.steps and request.steps[-1] == "quantize":
        from dlcompress.benchmarks.delivery import choose_delivery, choose_fastest
        from dlcompress.toolkit.stages.quantize import WEIGHT_ONLY_METHODS

        if request.compares_backends:
            report.delivered = choose_fastest(rows, request.options.quantize.max_drop, request.job.deliver)
        else:
            report.delivered = choose_delivery(rows, request.job.deliver,
                                               weight_only=request.options.quantize.method in WEIGHT_ONLY_METHODS)
    report.artifacts = {_file_of(state, v): f"{v.name} {v.artifact.format} {v.artifact.precision}"
                        for v in _outputs_of(state)}
    return report


def _latency_notes(variants: list[Variant], rows: list[Row]) -> list[str]:
    """Say so when a step cut MACs a lot but did not make the model faster (same runtime, same run)."""
    out = []
    for (pv, prev), (v, row) in zip(zip(variants, rows), zip(variants[1:], rows[1:])):
        if prev.runtime != row.runtime or not prev.macs or not row.macs or not prev.latency or not row.latency:
            continue
        cut = 1 - row.macs / prev.macs
        gain = prev.latency["p50_ms"] / row.latency["p50_ms"]
        if cut >= 0.2 and gain < NO_GAIN_SPEEDUP:
            out.append(f"{v.name}: {cut:.0%} fewer MACs than {pv.name} but only {gain:.2f}x the speed on {row.runtime} "
                       f"(batch {row.latency.get('batch')}): at this size per-layer overhead and memory traffic, not "
                       "multiply-adds, bound the latency")
    return out


def _note_once(state: PipelineState, text: str) -> None:
    if text not in state.prepared.notes:
        state.prepared.notes.append(text)


def steps_table(report: Report) -> tuple[list[str], list[list[str]]]:
    """Per step: format, params, MACs (and their ratio to the original), p50 latency, speed-up, top-1."""
    header = ["step", "format", "precision", "params", "MACs", "MACs vs original", "p50 ms", "speed-up", "top-1", "Δ top-1"]
    ref = report.rows[0] if report.rows else None
    rows = []
    for r in report.rows:
        lat = (r.latency or {}).get("p50_ms")
        rows.append([
            r.variant, r.format, r.precision, _big(r.params), _big(r.macs),
            f"{r.macs / ref.macs:.1%}" if ref and ref.macs and r.macs else "",
            f"{lat:.3f}" if lat else "", f"{r.speedup_vs_reference:.2f}x" if r.speedup_vs_reference else "",
            f"{r.metric['value']:.4f}" if r.metric else "", f"{r.metric_delta:+.4f}" if r.metric_delta is not None else "",
        ])
    return header, rows


def layer_sections(variants: list[Variant]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) per structural step: channels per pruned layer, MACs per replaced layer."""
    out = []
    for v in variants[1:]:
        rec = v.artifact.lineage[-1] if v.artifact.lineage else None
        if rec is None or v.artifact.model is None:
            continue
        e = rec.effect
        if rec.stage == "depthwise":
            header = ["layer", "kernel", "C -> M", "out H×W", "MACs H·W·K·K·C·M", "MACs H·W·K·K·C + H·W·C·M", "fewer", "init error"]
            rows = [[x["name"], "x".join(map(str, x["kernel"])), f"{x['in_channels']} -> {x['out_channels']}",
                     "x".join(map(str, x["out_hw"])), f"{x['macs_before']:,}", f"{x['macs_after']:,}",
                     f"{x['reduction']:.1f}x", f"{x['init_relative_error']:.3f}"] for x in e["layers"]]
            rows.append(["total (replaced)", "", "", "", f"{e['replaced_macs_before']:,}", f"{e['replaced_macs_after']:,}",
                         f"{e['replaced_macs_reduction']:.1f}x", ""])
            rows.append(["total (all convs)", "", "", "", f"{e['conv_macs_before']:,}", f"{e['conv_macs_after']:,}",
                         f"{e['conv_macs_reduction']:.1f}x", ""])
            out.append((f"{v.name}: replaced convolutions", header, rows))
        elif rec.stage == "prune" and "structure" in e:
            header = ["layer", "out channels", "in channels", "params", "MACs"]
            rows = [[x["name"], f"{x['out_channels'][0]} -> {x['out_channels'][1]}",
                     f"{x['in_channels'][0]} -> {x['in_channels'][1]}", f"{_big(x['params'][0])} -> {_big(x['params'][1])}",
                     f"{_big(x['macs'][0])} -> {_big(x['macs'][1])}"] for x in e["layers"]]
            out.append((f"{v.name}: channels per layer", header, rows))
        elif rec.stage == "prune":
            header = ["layer", "sparsity"]
            rows = [[k, f"{s:.1%}"] for k, s in e["layer_sparsity"].items()]
            out.append((f"{v.name}: weight sparsity per layer (tensors stay dense)", header, rows))
    return out


def steps_markdown(report: Report, variants: list[Variant]) -> str:
    lines = ["", "## Steps", ""]
    sections = [("", *steps_table(report)), *layer_sections(variants)]
    for i, (title, header, rows) in enumerate(sections):
        if i:
            lines += ["", f"## {title}", ""]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(c for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _big(v: Any) -> str:
    return human_count(v, missing="")
