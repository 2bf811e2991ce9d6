"""``dlcompress bench --model ...``: every (backend, precision, device, batch) variant of each model, built
through the normal pipeline and measured in one interleaved run, into one accuracy-gated report."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlcompress.benchmarks.gates import Gates, check_gates
from dlcompress.benchmarks.harness import BenchOptions, measure
from dlcompress.benchmarks.html import render_html
from dlcompress.benchmarks.memprobe import peak_memory
from dlcompress.benchmarks.plots import write_plots
from dlcompress.benchmarks.report import Report, Row
from dlcompress.benchmarks.roofline import estimates_for
from dlcompress.benchmarks.variants import (
    METHOD_FOR_PRECISION,
    TORCH,
    UNSUPPORTED,
    artifact_folder,
    check_backend,
    check_precisions,
    cuda_skip_reason,
    device_setup,
    runtime_for,
)
from dlcompress.exporters import ExportOptions
from dlcompress.recipes.common import (
    DataOptions,
    Prepared,
    Variant,
    diagnose,
    model_summary,
    prepare,
    score_outputs,
)
from dlcompress.recipes.loading import check_model_name
from dlcompress.toolkit.artifact import Artifact
from dlcompress.toolkit.backends import BACKENDS
from dlcompress.toolkit.calibration import Calibration
from dlcompress.toolkit.devices import environment
from dlcompress.toolkit.errors import GateError, UnsupportedError, describe_failure
from dlcompress.toolkit.metrics import Outputs, collect_batches
from dlcompress.toolkit.model_options import ModelOptions
from dlcompress.toolkit.outputs import atomic_dir, check_writable, default_out_dir
from dlcompress.toolkit.progress import note, step
from dlcompress.toolkit.runtimes import Runtime, RuntimeOptions, open_runtime
from dlcompress.toolkit.stages import quantize_onnx, quantize_torch  # noqa: F401  (register quantizers)
from dlcompress.toolkit.stages.quantize import QuantizeOptions, quantize


@dataclass(frozen=True)
class BenchRequest:
    """What to measure. Every combination of backends x precisions x devices x batches becomes a row."""

    models: tuple[str, ...]
    backends: tuple[str, ...] = ("torch", "onnxruntime")
    precisions: tuple[str, ...] = ("fp32", "int8")
    devices: tuple[str, ...] = ("cpu",)
    batches: tuple[int, ...] = (1,)
    model_options: ModelOptions = field(default_factory=ModelOptions)
    data: DataOptions = field(default_factory=lambda: DataOptions(eval_samples=200))
    quantize: QuantizeOptions = field(default_factory=QuantizeOptions)
    bench: BenchOptions = field(default_factory=BenchOptions)
    gates: Gates = field(default_factory=Gates)
    threads: int | None = None
    out: Path | None = None
    overwrite: bool = False


@dataclass
class Built:
    """One (backend, precision) artifact, or why it could not be built."""

    backend: str
    precision: str
    variant: Variant | None = None
    failure: str | None = None
    status: str = "failed"
    outputs: Outputs | None = None


def bench_models(request: BenchRequest) -> tuple[Report, Path]:
    """Build, evaluate and time every variant; write report.json/md/html, plots and artifacts atomically."""
    out = request.out or default_out_dir("bench-" + "-".join(m.rsplit("/", 1)[-1].replace(":", "_") for m in request.models))
    check_writable(out, request.overwrite)
    for b in request.backends:
        check_backend(b)
    check_precisions(request.precisions)
    for model in request.models:  # every name before the first model is built (minutes, for big ones)
        check_model_name(model)
    devices = [device_setup(d, request.threads) for d in request.devices]
    report = Report(command="bench", model={"name": ", ".join(request.models)}, data={}, environment=environment(),
                    benchmark={**dataclasses.asdict(request.bench), "batches": list(request.batches),
                               "devices": {d.name: d.label or d.skip_reason for d in devices},
                               "backends": list(request.backends), "precisions": list(request.precisions)})
    with atomic_dir(out, request.overwrite) as folder:
        for model in request.models:
            rows, diagnosis, prepared = bench_one(model, request, devices, folder)
            report.rows += rows
            report.model.setdefault("models", []).append(model_summary(prepared))
            report.diagnosis += [f"{model}: {d}" for d in diagnosis]
            report.notes += [f"{model}: {n}" for n in prepared.notes]
            report.estimates += [{"model": prepared.spec.name, **e}
                                 for e in estimates_for(prepared.macs, prepared.params, list(request.precisions))]
            n_test = len(prepared.data.test)
            report.data = {"name": prepared.data.name, "labelled": prepared.labelled,
                           "evaluation_samples": min(n_test, request.data.eval_samples or n_test),
                           "calibration_samples": request.data.calib_samples}
        report.gates = check_gates(report, request.gates)
        plots = write_plots(report, folder / "plots")
        (folder / "report.json").write_text(report.dumps())
        (folder / "report.md").write_text(report.to_markdown())
        (folder / "report.html").write_text(render_html(report, plots))
    failed = [g for g in report.gates if not g["passed"]]
    if failed:
        raise GateError(f"{len(failed)} quality gate(s) failed, e.g. {failed[0]['message']} (report written to {out})")
    return report, out


def bench_one(model: str, request: BenchRequest, devices: list, folder: Path) -> tuple[list[Row], list[str], Prepared]:
    step(f"preparing {model}")
    prepared = prepare(model, request.model_options, request.data)
    if request.gates.active and not prepared.labelled:
        raise UnsupportedError(f"--min-metric/--max-drop need labelled data; {prepared.data.name} has no labels",
                               "add --data fashion-mnist (or digits, or an ImageFolder)")
    spec_name = prepared.spec.name
    calib = prepared.calibration(request.data.calib_samples)
    builds: list[Built] = []
    fp32_files: dict[str, Variant] = {}
    for backend in request.backends:
        for precision in request.precisions:
            built = Built(backend, precision)
            builds.append(built)
            if (backend, precision) in UNSUPPORTED:
                built.failure, built.status = UNSUPPORTED[(backend, precision)], "skipped"
                continue
            step(f"building {spec_name} {backend}/{precision}")
            try:
                built.variant = build_variant(prepared, backend, precision, request, calib, fp32_files,
                                              artifact_folder(folder, spec_name, backend))
                built.status = built.variant.status
            except Exception as e:  # noqa: BLE001 - one variant's failure must not stop the others
                built.failure = describe_failure(e)
                note(f"{spec_name} {backend}/{precision} could not be built: {built.failure}")
    evaluate(builds, prepared, request)
    return measure_builds(builds, prepared, request, devices)


def build_variant(prepared: Prepared, backend: str, precision: str, request: BenchRequest, calib: Calibration,
                  fp32_files: dict[str, Variant], folder: Path) -> Variant:
    """The artifact for (backend, precision), through export/validation and the format's quantizer."""
    from dlcompress.recipes.export_steps import export_validated

    name = f"{backend}/{precision}"
    if backend == TORCH:
        if precision == "fp32":
            return Variant(name, prepared.artifact, "torch", status="reference")
        options = dataclasses.replace(request.quantize, method=METHOD_FOR_PRECISION[precision])
        art = quantize(prepared.artifact, options, calib, folder / "unused")
        return Variant(name, art, "torch", status="quantized")
    b = BACKENDS.get(backend)
    if backend not in fp32_files:
        fp32_files[backend] = export_validated(prepared, folder, b, ExportOptions(), RuntimeOptions(request.threads))
    fp32 = fp32_files[backend]
    if precision == "fp32":
        return dataclasses.replace(fp32, name=name)
    options = dataclasses.replace(request.quantize, method=METHOD_FOR_PRECISION[precision])
    art = quantize(fp32.artifact, options, calib if options.method == "static" else None, folder / b.filename(precision))
    return Variant(name, art, b.runtime, status="quantized")


def _outputs(rt: Runtime, prepared: Prepared, request: BenchRequest) -> Outputs:
    """Every output over the evaluation split; falls back to batch 1 for static-shape runtimes."""
    n = request.data.eval_samples or None
    try:
        return collect_batches(rt, prepared.feeds("test", n, request.data.eval_batch), label=f"evaluating {rt.name}")
    except Exception:  # noqa: BLE001 - e.g. a .tflite with a static batch of 1
        return collect_batches(rt, prepared.feeds("test", n, 1), label=f"evaluating {rt.name} (batch 1)")


def evaluate(builds: list[Built], prepared: Prepared, request: BenchRequest) -> None:
    """Outputs of every built artifact on the held-out data (all cores; device does not change the numbers)."""
    for b in builds:
        if b.variant is None:
            continue
        step(f"evaluating {b.backend}/{b.precision}")
        try:
            rt = open_runtime(b.variant.artifact, RuntimeOptions(request.threads), b.variant.runtime)
            b.outputs = _outputs(rt, prepared, request)
            rt.close()
        except Exception as e:  # noqa: BLE001
            b.failure, b.status, b.variant = f"evaluation failed: {describe_failure(e)}", "failed", None


def measure_builds(builds: list[Built], prepared: Prepared, request: BenchRequest,
                   devices: list) -> tuple[list[Row], list[str], Prepared]:
    spec = prepared.spec
    labels = prepared.labels(request.data.eval_samples or None)
    reference = next((b for b in builds if b.outputs is not None and b.precision == "fp32"), None)
    runtimes: dict[str, Runtime] = {}
    feeds: dict[str, dict[str, np.ndarray]] = {}
    keys: dict[str, tuple[Built, object, int]] = {}
    skipped: list[tuple[Built, object, int, str]] = []
    for b in builds:
        for dev in devices:
            for batch in request.batches:
                key = f"{b.backend}/{b.precision}/{dev.name}/b{batch}"
                if b.variant is None:
                    skipped.append((b, dev, batch, b.failure or "not built"))
                    continue
                runtime = runtime_for(b.backend, dev.name)
                reason = dev.skip_reason or (cuda_skip_reason(b.backend) if dev.name == "cuda" else None)
                if runtime is None or reason:
                    skipped.append((b, dev, batch, reason or f"{b.backend} cannot run on {dev.name}"))
                    continue
                try:
                    rt = open_runtime(b.variant.artifact, dev.options, runtime)
                    feed = prepared.feeds("test", batch, batch)[0]
                    if len(next(iter(feed.values()))) < batch:
                        feed = spec.example_inputs(batch)
                    rt.run(feed)
                except Exception as e:  # noqa: BLE001
                    skipped.append((b, dev, batch, f"cannot run at batch {batch} on {dev.name}: {describe_failure(e)}"))
                    continue
                runtimes[key], feeds[key], keys[key] = rt, feed, (b, dev, batch)
    timings = {}
    if runtimes:
        step(f"timing {len(runtimes)} variants of {spec.name} interleaved")
        timings = measure(runtimes, feeds, request.bench)
    memory: dict[int, dict | None] = {}
    rows: list[Row] = []
    scores: dict[int, tuple[dict | None, dict | None]] = {}  # per build: outputs do not change with device or batch

    def scored(b: Built) -> tuple[dict | None, dict | None]:
        if id(b) not in scores:
            scores[id(b)] = (None, None)
            if reference is not None and b.outputs is not None:
                metric, fidelity = score_outputs(prepared, b.outputs, reference.outputs, labels)
                scores[id(b)] = (metric, fidelity.to_json())
        return scores[id(b)]

    ref_metric = (scored(reference)[0] or {}).get("value") if reference is not None else None
    for key, (b, dev, batch) in keys.items():
        art: Artifact = b.variant.artifact
        if id(art) not in memory:
            memory[id(art)] = None
            if art.path is not None and request.bench.memory:
                feed = feeds[key]
                inputs = [{"name": k, "shape": [1, *a.shape[1:]], "dtype": str(a.dtype)} for k, a in feed.items()]
                memory[id(art)] = peak_memory(runtimes[key].name, art.path, inputs, dev.options.num_threads,
                                               artifact_precision=art.precision)
        metric, fid = scored(b)
        rows.append(Row(
            variant=f"{b.backend}/{b.precision}/{dev.name}/b{batch}", format=str(art.format), precision=b.precision,
            runtime=runtimes[key].name, device=dev.name, status=b.variant.status, path=_rel(art.path),
            size_bytes=art.size_bytes, params=prepared.params, macs=prepared.macs, latency=timings[key].to_json(),
            peak_memory=memory[id(art)], metric=metric,
            metric_delta=None if metric is None or ref_metric is None else round(metric["value"] - ref_metric, 6),
            fidelity=fid, validation=b.variant.validation, reason=b.variant.reason,
            pipeline=[r.stage for r in art.lineage], model=spec.name, backend=b.backend, batch=batch,
            execution=_kernel_evidence(art),
            runtime_info=_describe(runtimes[key]),
        ))
    seen: set[tuple[str, str, str]] = set()
    for b, dev, batch, reason in skipped:  # one row per unbuildable variant, one per device it cannot use
        built_ok = b.variant is not None
        where = dev.name if built_ok else "all"
        key = (b.backend, b.precision, where)
        if key in seen:
            continue
        seen.add(key)
        status = "failed" if b.status == "failed" and not built_ok else "skipped"
        rows.append(Row(variant=f"{b.backend}/{b.precision}/{where}", format="", precision=b.precision,
                        runtime=b.backend, device=where, status=status, reason=reason, model=spec.name,
                        backend=b.backend, batch=None))
    _relative_speed(rows)
    diagnosis = _diagnose(builds, rows, prepared, request)
    for rt in runtimes.values():
        rt.close()
    return rows, diagnosis, prepared


def _describe(rt: Runtime) -> dict[str, object]:
    try:
        return {k: v for k, v in rt.describe().items() if isinstance(v, (str, int, float, bool, list))}
    except Exception as e:  # noqa: BLE001 - describing must never break a report
        return {"error": describe_failure(e)}


def _rel(path: Path | None) -> str | None:
    if path is None:
        return None
    parts = path.parts
    return str(Path(*parts[parts.index("artifacts"):])) if "artifacts" in parts else path.name


def _relative_speed(rows: list[Row]) -> None:
    """Speed-up and size ratio of each row against the fp32 reference of the same model, device and batch
    (torch fp32 when measured, else the first fp32 row)."""
    for r in rows:
        if not r.latency:
            continue
        same = [x for x in rows if x.latency and x.model == r.model and x.device == r.device and x.batch == r.batch
                and x.precision == "fp32"]
        ref = next((x for x in same if x.backend == TORCH), same[0] if same else None)
        if ref is not None:
            r.speedup_vs_reference = round(ref.latency["p50_ms"] / r.latency["p50_ms"], 3)
        same_backend = next((x for x in rows if x.model == r.model and x.backend == r.backend and x.precision == "fp32"
                             and x.size_bytes), None)
        if same_backend and r.size_bytes:
            r.size_ratio_vs_reference = round(r.size_bytes / same_backend.size_bytes, 4)


def _diagnose(builds: list[Built], rows: list[Row], prepared: Prepared, request: BenchRequest) -> list[str]:
    """Why-not-faster explanations: for each backend, its quantized variant vs its own fp32, per device/batch."""
    out: list[str] = []
    by_key = {r.variant: r for r in rows if r.latency}
    for b in builds:
        if b.variant is None or b.precision == "fp32":
            continue
        fp32 = next((x for x in builds if x.backend == b.backend and x.precision == "fp32" and x.variant), None)
        if fp32 is None:
            continue
        for dev in request.devices:
            for batch in request.batches:
                q = by_key.get(f"{b.backend}/{b.precision}/{dev}/b{batch}")
                f = by_key.get(f"{b.backend}/fp32/{dev}/b{batch}")
                if not q or not f:
                    continue
                speedup = f.latency["p50_ms"] / q.latency["p50_ms"]
                if str(b.variant.artifact.format) == "onnx":
                    reasons = diagnose([fp32.variant, b.variant], [f, q], prepared, dataclasses.replace(request.bench, batch=batch))
                    out += [f"{b.backend} {dev} b{batch}: {r}" for r in reasons]
                elif speedup < 1.15:
                    kernels = (q.execution or {}).get("int8_kernels")
                    out.append(f"{b.backend} {dev} b{batch}: {b.precision} is only {speedup:.2f}x its fp32 "
                               f"({q.latency['p50_ms']:.2f} vs {f.latency['p50_ms']:.2f} ms); "
                               + _generic_reason(b.backend, batch, prepared.macs, kernels))
    return out


def _kernel_evidence(artifact: Artifact) -> dict | None:
    """What the quantizer recorded about the kernels that run (torch: convs/linears lowered to oneDNN int8)."""
    kernels = artifact.lineage[-1].effect.get("int8_kernels") if artifact.lineage else None
    return {"int8_kernels": kernels} if kernels else None


def _generic_reason(backend: str, batch: int, macs: int | None, kernels: dict | None = None) -> str:
    from dlcompress.toolkit.devices import cpu_info

    cpu = cpu_info()
    if cpu.is_x86 and not cpu.has_vnni:
        return "the CPU has no VNNI/AMX int8 instructions"
    if macs is not None and macs * batch < 50_000_000:
        return f"the model is tiny ({macs / 1e6:.1f} MMACs per item): per-call overhead dominates"
    if backend == TORCH:
        if kernels:
            counts = ", ".join(f"{v['int8']}/{v['total']} {k}s" for k, v in kernels.items())
            missing = any(v["int8"] < v["total"] for v in kernels.values())
            return (f"Inductor lowered {counts} to oneDNN int8 kernels (its pattern-matcher counters); "
                    + ("the rest run in fp32 between quantize/dequantize pairs" if missing else
                       "no conv/linear falls back to fp32, so the gap is in the int8 kernels themselves or in the "
                       "ops between them, not in quantization coverage; compare the other backends' int8 rows"))
        return "PT2E int8 gains depend on Inductor fusing quantize/dequantize into oneDNN int8 kernels; unfused ops run in fp32"
    return "no structural cause found; compare p90 columns or rerun (machine noise)"
