"""``dlcompress explain``: attribution maps of the fp32 model and of each compressed variant on the same held-out
images, and how far they drift (see :mod:`dlcompress.toolkit.explain`).

Variants are the ``--compare`` files, each run by its own runtime (``.onnx``: ONNX Runtime, ``.xml``: OpenVINO,
``.tflite``: LiteRT), torch checkpoints of the same architecture (``.pt``/``.pth``: Grad-CAM runs on those too)
or any other model name ``--model`` takes; without ``--compare``, the int8 ONNX Runtime model built here the way
``dlcompress quantize`` builds it. Written atomically: ``report.json``, ``report.md``, ``gallery.html`` with
``gallery/image-NN.png``, and the ONNX models built.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlcompress.exporters import ExportOptions
from dlcompress.recipes.common import DataOptions, Prepared, init_runtimes, prepare
from dlcompress.recipes.export_steps import export_validated, quantize_step
from dlcompress.recipes.loading import check_model_name, load_model
from dlcompress.toolkit.artifact import Artifact, Format
from dlcompress.toolkit.backends import BACKENDS
from dlcompress.toolkit.errors import (
    BackendUnavailableError,
    DatasetError,
    InputShapeError,
    UnsupportedError,
)
from dlcompress.toolkit.explain.compare import (
    Explanation,
    ImageCase,
    compare_attributions,
)
from dlcompress.toolkit.explain.gallery import markdown, write_html, write_pngs
from dlcompress.toolkit.explain.methods import (
    INSTALL_HINT,
    METHODS,
    Method,
    PixelSpace,
    Predictor,
    Settings,
    Subject,
    get_method,
    last_conv,
)
from dlcompress.toolkit.model_options import ModelOptions
from dlcompress.toolkit.outputs import atomic_dir, check_writable, default_out_dir
from dlcompress.toolkit.progress import note, step
from dlcompress.toolkit.runtimes import RuntimeOptions, open_runtime
from dlcompress.toolkit.stages.quantize import QuantizeOptions

FILE_FORMATS = {".onnx": Format.ONNX, ".xml": Format.OPENVINO, ".tflite": Format.LITERT}
CHECKPOINTS = (".pt", ".pth", ".bin", ".ckpt")
PACKAGES = {"gradcam": "pytorch_grad_cam", "lime": "lime", "shap": "shap"}
INT8_NAME = "int8 onnxruntime"


@dataclass(frozen=True)
class ExplainRequest:
    """``methods`` None: every method the reference can run; named methods must run (else an error).
    ``int8`` None: build the int8 ONNX Runtime variant only when nothing is given to ``compare``."""

    model: str = "small_cnn"
    model_options: ModelOptions = field(default_factory=ModelOptions)
    compare: tuple[str, ...] = ()
    int8: bool | None = None
    methods: tuple[str, ...] | None = None
    data: DataOptions = field(default_factory=lambda: DataOptions(calib_samples=64, eval_samples=8))
    images: int = 8
    samples: int = 500
    top_k: float = 0.1
    seed: int = 0
    threads: int | None = None
    out: Path | None = None
    overwrite: bool = False


@dataclass(frozen=True)
class ExplainResult:
    explanation: Explanation
    out_dir: Path
    report: dict[str, object]


def run_explain(request: ExplainRequest) -> ExplainResult:
    """Check everything first, then build the variants, explain, and write the report and gallery."""
    out = request.out or default_out_dir(f"{request.model.rsplit('/', 1)[-1].replace(':', '_')}-explain")
    check_writable(out, request.overwrite)
    methods = _methods(request.methods)
    _check_numbers(request)
    for name in request.compare:
        _check_variant_name(name)
    runtime_options = init_runtimes(request.threads)
    prepared = prepare(request.model, request.model_options, request.data)
    if prepared.transform is None or prepared.spec.task != "image-classification":
        raise DatasetError(f"dlcompress explain explains image classifiers on images; {prepared.spec.name} is a "
                           f"{prepared.spec.task} model on {prepared.data.name}",
                           "give an image classifier and image data (--data fashion-mnist, photos, an image folder)")
    pre = prepared.spec.preprocess
    space = PixelSpace(pre.mean, pre.std, pre.channels_last)
    settings = Settings(samples=request.samples, seed=request.seed)
    reference = _subject(_reference_name(prepared, request.model), prepared.artifact, space, runtime_options, settings)
    variants = [_subject(_unique(Path(n).name if Path(n).suffix else n, i), _load_variant(n, prepared, request),
                         space, runtime_options, settings) for i, n in enumerate(request.compare)]
    build_int8 = request.int8 if request.int8 is not None else not request.compare
    methods, notes = _plan(methods, request.methods is not None, reference, variants, build_int8)
    with atomic_dir(out, request.overwrite) as folder:
        if build_int8:
            variants.append(_subject(INT8_NAME, _int8(prepared, request, folder, runtime_options), space,
                                     runtime_options, settings))
            notes.append(f"{INT8_NAME}: built here as dlcompress quantize builds it (static int8, calibrated on "
                         f"{request.data.calib_samples} {prepared.data.name} training images)")
        images = _images(prepared, reference, space, request.images)
        step(f"explaining {len(images)} {prepared.data.name} test images with {', '.join(m.title for m in methods)} "
             f"on {', '.join(s.name for s in [reference, *variants])} ({request.samples} samples per image)")
        found = compare_attributions(reference, variants, methods, images, settings, request.top_k)
        found.notes.extend(prepared.notes + notes)
        report = {"command": "explain", "model": prepared.spec.name, "data": prepared.data.name,
                  "models": {s.name: s.format for s in [reference, *variants]}, **found.to_json()}
        title = f"Attribution drift: {prepared.spec.name} on {prepared.data.name}"
        (folder / "report.json").write_text(json.dumps(report, indent=2, default=str))
        (folder / "report.md").write_text(f"# {title}\n\n{markdown(found)}\n")
        pngs = write_pngs(found, folder / "gallery")
        write_html(found, folder / "gallery.html", pngs, title)
    return ExplainResult(found, out, report)


def _methods(names: tuple[str, ...] | None) -> list[Method]:
    chosen = [get_method(n) for n in (names or tuple(METHODS))]
    if not chosen:
        raise UnsupportedError("--methods names no method", f"use one or more of: {', '.join(METHODS)}")
    missing = [m for m in chosen if importlib.util.find_spec(PACKAGES[m.name]) is None]
    if missing:
        raise BackendUnavailableError(f"{', '.join(m.title for m in missing)} need(s) the "
                                      f"{', '.join(m.requires for m in missing)} package(s), which are not installed",
                                      INSTALL_HINT)
    return list(dict.fromkeys(chosen))


def _check_numbers(request: ExplainRequest) -> None:
    if request.images < 1:
        raise UnsupportedError(f"--images must be at least 1, got {request.images}")
    if request.samples < 10:
        raise UnsupportedError(f"--samples must be at least 10, got {request.samples}",
                               "LIME fits a linear model and SHAP splits the image on that many model runs")
    if not 0 < request.top_k <= 1:
        raise UnsupportedError(f"--top-k must be a share of the pixels in (0, 1], got {request.top_k}")


def _check_variant_name(name: str) -> None:
    path = Path(name)
    if path.suffix.lower() in FILE_FORMATS or path.suffix.lower() in CHECKPOINTS:
        if not path.exists():
            raise UnsupportedError(f"--compare {name}: no such file",
                                   "give the path of an .onnx, .xml or .tflite file, or of a torch checkpoint")
        if path.suffix.lower() == ".xml" and not path.with_suffix(".bin").exists():
            raise UnsupportedError(f"--compare {name}: the OpenVINO weights {path.with_suffix('.bin').name} are missing",
                                   "keep the .bin file beside the .xml")
        return
    check_model_name(name)


def _load_variant(name: str, prepared: Prepared, request: ExplainRequest) -> Artifact:
    """A ``--compare`` entry as an artifact: a model file for its runtime, a checkpoint into ``--model``'s
    architecture, or any model name ``--model`` takes."""
    path = Path(name)
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        art = load_model(name, request.model_options)
    elif suffix in FILE_FORMATS:
        art = Artifact(FILE_FORMATS[suffix], prepared.spec, path=path)
    elif suffix in CHECKPOINTS:
        if prepared.artifact.format is not Format.TORCH:
            raise UnsupportedError(f"--compare {name} is a torch checkpoint, but --model {request.model} is not a "
                                   "torch model to load it into", "give --model the architecture (a zoo name or file.py:fn)")
        art = load_model(request.model, dataclasses.replace(request.model_options, weights=name), prepared.data)
    else:
        art = load_model(name, request.model_options, prepared.data)
    if len(art.spec.inputs) != 1:
        raise InputShapeError(f"--compare {name} takes {len(art.spec.inputs)} inputs; explain feeds one image",
                              "compare variants of the same image classifier")
    return art


def _subject(name: str, artifact: Artifact, space: PixelSpace, options: RuntimeOptions, settings: Settings) -> Subject:
    runtime = open_runtime(artifact, options)
    model = artifact.model if artifact.format is Format.TORCH else None
    return Subject(name, Predictor(runtime, space, settings.batch), space, model, str(artifact.format))


def _reference_name(prepared: Prepared, model: str) -> str:
    return "fp32 torch" if prepared.artifact.format is Format.TORCH else Path(model).name


def _unique(name: str, i: int) -> str:
    return name if name not in ("fp32 torch", INT8_NAME) else f"{name} ({i + 1})"


def _plan(methods: list[Method], explicit: bool, reference: Subject, variants: list[Subject],
          build_int8: bool) -> tuple[list[Method], list[str]]:
    """The methods to run: a method the reference cannot run is an error when named, else left out with a note;
    named methods none of which can run on any variant are an error (there would be nothing to compare)."""
    keep, notes = [], []
    for m in methods:
        reason = m.why_not(reference)
        if reason is None and m.needs_torch:
            try:
                last_conv(reference.torch_model)
            except UnsupportedError as e:
                reason = e.message
                if explicit:
                    raise UnsupportedError(f"--methods {m.name}: {e.message}", e.hint) from None
        if reason is None:
            keep.append(m)
        elif explicit:
            raise UnsupportedError(f"--methods {m.name}: {reason}", "explain it with --methods lime,shap")
        else:
            notes.append(f"{m.title} left out: {reason}")
            note(f"{m.title} left out: {reason}")
    if not keep:
        raise UnsupportedError("no attribution method can explain this model", "use --methods lime,shap")
    compared = [(v.name, v.format, v.torch_model is not None) for v in variants]
    if build_int8:
        compared.append((INT8_NAME, "onnx", False))
    if explicit and compared and all(m.needs_torch for m in keep) and not any(t for _, _, t in compared):
        what = ", ".join(f"{n} ({f})" for n, f, _ in compared)
        raise UnsupportedError(f"--methods {','.join(m.name for m in keep)} cannot run on any variant compared "
                               f"({what}): {keep[0].title} needs a torch model with gradients",
                               "add lime or shap to --methods: they explain any model file through its runtime")
    return keep, notes


def _int8(prepared: Prepared, request: ExplainRequest, folder: Path, options: RuntimeOptions) -> Artifact:
    backend = BACKENDS.get("onnxruntime").require()
    fp32 = export_validated(prepared, folder, backend, ExportOptions(), options).artifact
    variant, _ = quantize_step(prepared, fp32, QuantizeOptions(method="auto"), request.data, backend, folder)
    return variant.artifact


def _images(prepared: Prepared, reference: Subject, space: PixelSpace, n: int) -> list[ImageCase]:
    """The first ``n`` test images, each to be explained for the class the reference predicts."""
    feeds = prepared.feeds("test", n, n)
    name = prepared.spec.inputs[0].name
    pixels = space.to_pixels(np.concatenate([f[name] for f in feeds]))
    targets = reference.predict(pixels).argmax(1)
    labels = prepared.labels(n)
    return [ImageCase(i, pixels[i], int(targets[i]), None if labels is None else int(labels[i]))
            for i in range(len(pixels))]
