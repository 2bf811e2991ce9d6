"""The main job: model -> validated fp32 export -> quantized model -> side-by-side report, written atomically:
the steps ``export, quantize`` of the one step runner, with every option checked first."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dlcompress.benchmarks.delivery import DELIVER_CHOICES
from dlcompress.benchmarks.harness import BenchOptions
from dlcompress.benchmarks.report import Report
from dlcompress.exporters import ExportOptions
from dlcompress.recipes.common import (
    DataOptions,
    init_runtimes,
)
from dlcompress.toolkit.backends import BACKENDS, Backend
from dlcompress.toolkit.errors import DLCompressError, UnsupportedError
from dlcompress.toolkit.model_options import ModelOptions
from dlcompress.toolkit.outputs import check_writable, default_out_dir
from dlcompress.toolkit.runtimes import RuntimeOptions, get_runtime
from dlcompress.toolkit.stages import quantize_onnx  # noqa: F401  (registers the ONNX quantizer)
from dlcompress.toolkit.stages.quantize import (
    QuantizeOptions,
    check_options,
    resolve_method,
)
from dlcompress.zoo import MODELS

if TYPE_CHECKING:
    from dlcompress.recipes.pipeline import PipelineRequest

AUTO_BACKEND = "auto"
AUTO_CANDIDATES = ("onnxruntime", "openvino")
"""What ``--backend auto`` builds and times: the backends that run here as they are deployed (this CPU). The
mobile formats (litert, executorch) are picked by name: their timing on a desktop CPU says little about a phone."""


@dataclass(frozen=True)
class QuantizeRequest:
    """Everything ``dlcompress quantize`` takes; each group has its own options dataclass."""

    model: str = "resnet50"
    model_options: ModelOptions = field(default_factory=ModelOptions)
    data: DataOptions = field(default_factory=DataOptions)
    quantize: QuantizeOptions = field(default_factory=lambda: QuantizeOptions(method="auto"))
    """``auto`` as on the command line: the model's own method (dynamic for transformers), else static."""
    bench: BenchOptions = field(default_factory=BenchOptions)
    export: ExportOptions = field(default_factory=ExportOptions)
    threads: int | None = None
    out: Path | None = None
    overwrite: bool = False
    backend: str = "onnxruntime"
    inference_precision: str | None = None
    deliver: str = "fastest"
    """``fastest``: a quantized model slower than the fp32 export is not delivered (the report says why);
    ``quantized``: the quantized model is delivered whatever its speed."""
    bundle: bool = False
    """Also write the delivered file's mobile bundle (``bundle.json`` + a usage snippet)."""


    def pipeline(self, quantize: QuantizeOptions | None = None, out: Path | None = None,
                 backends: tuple[str, ...] | None = None) -> PipelineRequest:
        """The step runner's request for this job: ``export, quantize`` with the exported fp32 model as the
        reference row (``quantize``: the options as resolved for the backend; default: as given). ``backends``:
        ``export, quantize`` once per backend, all measured in one run (``--backend auto``)."""
        from dlcompress.recipes.pipeline import JobOptions, PipelineRequest, StepOptions

        q = quantize or self.quantize
        job = JobOptions(self.model_options, self.data, self.bench, self.threads, out or self.out, self.overwrite,
                         self.inference_precision, self.deliver, self.bundle)
        if backends and len(backends) > 1:
            return PipelineRequest(self.model, ("export", "quantize") * len(backends),
                                   StepOptions(backend=backends[0], export=self.export, quantize=q), job,
                                   command="quantize", measure_input=False,
                                   labels=tuple(f"{b} {p}" for b in backends for p in ("fp32", q.precision)),
                                   backends=tuple(b for b in backends for _ in range(2)))
        backend = backends[0] if backends else self.backend
        return PipelineRequest(self.model, ("export", "quantize"),
                               StepOptions(backend=backend, export=self.export, quantize=q), job,
                               command="quantize", measure_input=False, labels=("fp32", q.precision))


@dataclass(frozen=True)
class QuantizeResult:
    report: Report
    out_dir: Path


def quantize(request: QuantizeRequest) -> QuantizeResult:
    """Export, quantize and measure fp32 vs quantized: the steps ``export, quantize`` of the one step runner
    (:func:`~dlcompress.recipes.pipeline.run_pipeline`), with the exported fp32 model as the reference row.
    Every option is checked before any work."""
    from dlcompress.recipes.pipeline import run_pipeline

    out = request.out or default_out_dir(request.model.rsplit("/", 1)[-1].replace(":", "_"))
    check_writable(out, request.overwrite)
    if request.deliver not in DELIVER_CHOICES:
        raise UnsupportedError(f"--deliver {request.deliver!r} is not one of {', '.join(DELIVER_CHOICES)}",
                               "fastest (default) never delivers a quantized model slower than fp32; quantized always does")
    zoo_spec = MODELS.get(request.model) if request.model in MODELS else None
    if request.backend == AUTO_BACKEND:
        backends, q = auto_backends(request, zoo_spec)
        result = run_pipeline(request.pipeline(q, out, backends))
        return QuantizeResult(result.report, out)  # type: ignore[arg-type]
    backend = BACKENDS.get(request.backend).require()
    q = checked_options(request, backend, zoo_spec)
    result = run_pipeline(request.pipeline(q, out))
    return QuantizeResult(result.report, out)  # type: ignore[arg-type]


def checked_options(request: QuantizeRequest, backend: Backend, zoo_spec: object) -> QuantizeOptions:
    """The quantize options resolved for ``backend``; what it cannot do fails here, before any work."""
    q = resolve_method(request.quantize, zoo_spec, str(backend.format))
    check_options(str(backend.format), q)
    if zoo_spec is None:  # a model brought by the user: the quantize step picks ``auto``'s method from its spec
        q = dataclasses.replace(q, method=request.quantize.method)
    runtime_options_for(backend, request)  # an --inference-precision the backend lacks fails here
    return q


def auto_backends(request: QuantizeRequest, zoo_spec: object) -> tuple[tuple[str, ...], QuantizeOptions]:
    """``--backend auto``: the installed :data:`AUTO_CANDIDATES` that can do what was asked, and the options
    (resolved for the first). A candidate that is not installed, or cannot honour an option (``--reduce-range``
    is ONNX Runtime's), is left out with a note; none left is an error naming why."""
    from dlcompress.toolkit.progress import note

    chosen: list[tuple[str, QuantizeOptions]] = []
    why: list[str] = []
    for name in AUTO_CANDIDATES:
        backend = BACKENDS.get(name)
        try:
            chosen.append((name, checked_options(request, backend.require(), zoo_spec)))
        except DLCompressError as e:
            why.append(f"{name}: {e.message}")
    if not chosen:
        raise UnsupportedError(f"--backend auto found no backend that can do this job ({'; '.join(why)})",
                               "install one (pip install 'dlcompress[openvino]'), drop the option, or name --backend")
    methods = {q.method for _, q in chosen}
    if len(methods) > 1:  # e.g. a transformer: dynamic on ONNX Runtime, static on OpenVINO; compare like with like
        name, q = chosen[0]
        why += [f"{n}: its default method is {o.method}, not {q.method} (pass --method to compare both)" for n, o in chosen[1:]]
        chosen = chosen[:1]
    for line in why:
        note(f"--backend auto leaves out {line}")
    return tuple(n for n, _ in chosen), chosen[0][1]


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
