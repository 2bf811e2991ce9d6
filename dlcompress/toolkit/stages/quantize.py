"""The quantize stage: same format in, same format out (like ``nncf.quantize``), dispatched by format.

Backends register an implementation per :class:`Format` in :data:`QUANTIZERS`; ONNX is built in
(``quantize_onnx``), OpenVINO and LiteRT add theirs.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlcompress.toolkit.artifact import Artifact, StageRecord
from dlcompress.toolkit.calibration import Calibration
from dlcompress.toolkit.errors import UnsupportedError
from dlcompress.toolkit.registry import Registry

METHODS = ("static", "dynamic", "fp16", "int4", "int8-weights", "auto")
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
QUANT_FORMATS = ("qoperator", "qdq")
WEIGHT_ONLY_METHODS = ("int4", "int8-weights")
"""Weight-only methods: the weights of MatMul/Gemm (Linear) layers stored in 4 or 8 bits, activations stay float."""
WEIGHT_ALGORITHMS = ("rtn", "hqq", "gptq", "awq", "scale-estimation")
"""How weight-only quantization picks its values: round-to-nearest, or a backend's data-free (HQQ) or data-aware
(GPTQ, AWQ, scale estimation: they need calibration data) method; combined with ``+`` (``awq+scale-estimation``)."""
DATA_AWARE_ALGORITHMS = ("gptq", "awq", "scale-estimation")
EMBEDDINGS = ("int8", "int4", "float")
"""What weight-only quantization does with the embedding tables and the LM head (the output projection)."""


@dataclass(frozen=True)
class QuantizeOptions:
    """What to quantize to and how.

    ``method``: ``static`` int8 (calibrated activations), ``dynamic`` int8 (weights only ahead of time), ``fp16``,
    or ``auto``: the model's own default (the spec's hint ``quantize.method``: dynamic for transformers and recurrent
    nets), else static; see :func:`resolve_method`.
    ``quant_format``: ONNX Runtime's ``qoperator`` (QLinearConv... U8S8, the fast default on x86) or ``qdq``.
    ``reduce_range``: 7-bit weights; ``None`` = automatic (on x86 CPUs without VNNI, where U8S8 can saturate).
    ``max_drop``: accuracy-controlled quantization: the largest absolute drop of the task metric on labelled
    held-out data (0.01 = 1 point of top-1); layers that cost the most stay in float (formats in
    :data:`ACCURACY_CONTROLLED`). ``advanced``: one backend's own option group (e.g. ``OpenVinoQuantizeOptions``).
    """

    method: str = "static"
    calibration: str = "minmax"
    quant_format: str = "qoperator"
    per_channel: bool = True
    reduce_range: bool | None = None
    samples: int = 64
    max_drop: float | None = None
    advanced: object | None = None
    group_size: int | None = None
    symmetric: bool | None = None
    algorithm: str = "rtn"
    ratio: float | None = None
    embeddings: str = "int8"

    def __post_init__(self) -> None:
        for value, allowed, what in ((self.method, METHODS, "--method"),
                                     (self.calibration, CALIBRATION_METHODS, "--calibration"),
                                     (self.quant_format, QUANT_FORMATS, "--quant-format")):
            if value not in allowed:
                raise UnsupportedError(f"{what} {value!r} is not supported", f"use one of: {', '.join(allowed)}")
        if self.samples < 1:
            raise UnsupportedError(f"--calib-samples must be at least 1, got {self.samples}")
        if self.max_drop is not None and not 0 <= self.max_drop < 1:
            raise UnsupportedError(f"--max-drop must be in [0, 1) (0.01 = 1 point of top-1), got {self.max_drop}")
        self._check_weight_only()

    def _check_weight_only(self) -> None:
        given = [flag for flag, value, default in (
            ("--group-size", self.group_size, None), ("--symmetric/--asymmetric", self.symmetric, None),
            ("--weight-algorithm", self.algorithm, "rtn"), ("--ratio", self.ratio, None),
            ("--embeddings", self.embeddings, "int8")) if value != default]
        if given and self.method not in (*WEIGHT_ONLY_METHODS, "auto"):
            raise UnsupportedError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to weight-only "
                                   f"quantization, not to --method {self.method}", "add --method int4 or --method int8-weights")
        g = self.group_size
        if g is not None and g != 0 and (g < 16 or g & (g - 1)):
            raise UnsupportedError(f"--group-size {g} is not supported: groups are a power of two, at least 16",
                                   "use 32, 64 or 128, or --group-size channel (one scale per output channel)")
        unknown = [a for a in self.algorithms if a not in WEIGHT_ALGORITHMS]
        if unknown:
            raise UnsupportedError(f"--weight-algorithm {unknown[0]!r} is not supported",
                                   f"use one of: {', '.join(WEIGHT_ALGORITHMS)} (joined with +, e.g. awq+scale-estimation)")
        if self.ratio is not None and not 0 < self.ratio <= 1:
            raise UnsupportedError(f"--ratio must be in (0, 1] (the share of layers in 4 bits), got {self.ratio}")
        if self.ratio is not None and self.method == "int8-weights":
            raise UnsupportedError("--ratio mixes 4- and 8-bit layers; --method int8-weights has no 4-bit layers",
                                   "use --method int4 --ratio R")
        if self.embeddings not in EMBEDDINGS:
            raise UnsupportedError(f"--embeddings {self.embeddings!r} is not supported", f"use one of: {', '.join(EMBEDDINGS)}")

    @property
    def algorithms(self) -> tuple[str, ...]:
        """``algorithm`` split on ``+``, without ``rtn`` (plain rounding is what every method starts from)."""
        return tuple(a.strip() for a in self.algorithm.split("+") if a.strip() and a.strip() != "rtn")

    @property
    def weight_only(self) -> bool:
        return self.method in WEIGHT_ONLY_METHODS

    @property
    def needs_calibration(self) -> bool:
        """Static int8, or a weight-only method with a data-aware algorithm (GPTQ, AWQ, scale estimation)."""
        return self.method == "static" or (self.weight_only and any(a in DATA_AWARE_ALGORITHMS for a in self.algorithms))

    @property
    def bits(self) -> int:
        return 4 if self.method == "int4" else 8

    @property
    def precision(self) -> str:
        return {"fp16": "fp16", "int4": "int4"}.get(self.method, "int8")


DEFAULT_GROUP = 128
"""Weight-only group size when none is given (the common int4 default), cut to what divides every layer."""


def choose_group(options: QuantizeOptions, features: dict[str, int]) -> tuple[int | None, str]:
    """The group size for layers with ``features`` (name -> K): ``options.group_size`` checked to divide every
    K; None for per channel (``group_size`` 0), or when no default size divides every K (the backend then picks
    per layer, or per channel); the default otherwise; and how it was chosen."""
    g = options.group_size
    if g == 0:
        return None, "per channel"
    if g is not None:
        bad = {name: k for name, k in features.items() if k % g}
        if bad:
            name, k = next(iter(bad.items()))
            fits = [c for c in (128, 64, 32, 16) if all(v % c == 0 for v in features.values())]
            raise UnsupportedError(f"--group-size {g} does not divide the {k} input features of {name}"
                                   + (f" ({len(bad)} layers)" if len(bad) > 1 else ""),
                                   f"use --group-size {fits[0]}" if fits else "use --group-size channel")
        return g, "as given"
    for c in (DEFAULT_GROUP, 64, 32, 16):
        if all(k % c == 0 for k in features.values()):
            return c, "default" if c == DEFAULT_GROUP else f"largest power of two <= {DEFAULT_GROUP} dividing every layer's input features"
    return None, "per layer (no group size of 16 or more divides every layer's input features)"


Quantizer = Callable[[Artifact, QuantizeOptions, "Calibration | None", Path], Artifact]
"""``(artifact, options, calibration, out_path) -> artifact`` of the same format, one lineage record more."""


@dataclass(frozen=True)
class HeldOut:
    """Held-out batches for accuracy-controlled quantization (disjoint from the evaluation set); ``labels`` is empty
    for unlabelled data (the drop is then the share of fp32's predictions that changed)."""

    feeds: list[dict[str, np.ndarray]]
    labels: list[np.ndarray]
    source: str = ""

    @property
    def samples(self) -> int:
        return int(sum(len(next(iter(f.values()))) for f in self.feeds))

    @property
    def labelled(self) -> bool:
        return bool(self.labels)


AccuracyControlledQuantizer = Callable[[Artifact, QuantizeOptions, Calibration, HeldOut, Path], Artifact]

# format -> module that registers its quantizer(s); imported on the first lookup (missing extras are skipped)
QUANTIZER_MODULES = {
    "onnx": "dlcompress.toolkit.stages.quantize_onnx",
    "onnx (accuracy-controlled)": "dlcompress.toolkit.stages.quantize_onnx_accuracy",
    "onnx (weight-only)": "dlcompress.toolkit.stages.quantize_onnx_weights",
    "openvino": "dlcompress.toolkit.stages.quantize_openvino",
    "litert": "dlcompress.toolkit.stages.quantize_litert",
    "executorch": "dlcompress.toolkit.stages.quantize_executorch",
    "torch": "dlcompress.toolkit.stages.quantize_torch",
}


def _load_quantizers() -> None:
    import importlib

    for module in QUANTIZER_MODULES.values():
        try:
            importlib.import_module(module)
        except ImportError:
            continue


QUANTIZERS: Registry[Quantizer] = Registry("quantizer", loader=_load_quantizers)
ACCURACY_CONTROLLED: Registry[AccuracyControlledQuantizer] = Registry("accuracy-controlled quantizer",
                                                                      loader=_load_quantizers)
WEIGHT_ONLY: Registry[Quantizer] = Registry("weight-only quantizer", loader=_load_quantizers)
"""format -> its weight-only quantizer (:data:`WEIGHT_ONLY_METHODS`; ONNX: MatMulNBits, OpenVINO: NNCF)."""
OPTION_CHECKS: dict[str, Callable[[QuantizeOptions], None]] = {}
"""format -> a check that raises :class:`UnsupportedError` for options its quantizer cannot honour."""
ADVANCED_OPTIONS: dict[str, Callable[[dict[str, Any]], object | None]] = {}
"""format -> the builder of its quantizer's own option group from the command line's backend flags (by option
name, e.g. ``{"preset": "mixed", "int8_io": False}``); it returns None when none of its flags is set."""


def advanced_from_flags(flags: dict[str, Any]) -> object | None:
    """The one backend option group the set flags belong to (``QuantizeOptions.advanced``), or None.
    Flags of two backends at once are one clear error."""
    _load_quantizers()
    groups = {fmt: group for fmt, build in ADVANCED_OPTIONS.items() if (group := build(flags)) is not None}
    if len(groups) > 1:
        named = " and ".join(f"{getattr(g, 'flags', '?')} ({fmt})" for fmt, g in groups.items())
        raise UnsupportedError(f"{named} belong to different backends and cannot be combined",
                               "keep the flags of the --backend you quantize for")
    return next(iter(groups.values()), None)


def quantized_file(artifact: Artifact, out_path: Path, params: dict[str, Any], precision: str, start: float) -> Artifact:
    """The quantized artifact written at ``out_path``: a ``quantize`` record with ``params``, the size before and
    after, and the seconds since ``start`` (``time.perf_counter()``)."""
    before, after = artifact.size_bytes or 0, out_path.stat().st_size
    record = StageRecord("quantize", params, {"size_bytes_before": before, "size_bytes_after": after,
                                              "size_ratio": round(after / before, 4) if before else None},
                         seconds=round(time.perf_counter() - start, 2))
    return artifact.derive(record, path=out_path, precision=precision)


def reject_onnxruntime_flags(options: QuantizeOptions, backend: str, hint: str,
                             flags: tuple[str, ...] = ("--quant-format", "--reduce-range")) -> None:
    """Fail on ONNX Runtime quantizer flags (among ``flags``) set away from their defaults, for another backend's
    quantizer, which would otherwise ignore them silently."""
    defaults = QuantizeOptions()
    fields = {"--quant-format": "quant_format", "--calibration": "calibration", "--no-per-channel": "per_channel",
              "--reduce-range": "reduce_range"}
    given = [f for f in flags if getattr(options, fields[f]) != getattr(defaults, fields[f])]
    if given:
        raise UnsupportedError(f"{', '.join(given)} {'is an option' if len(given) == 1 else 'are options'} of the "
                               f"ONNX Runtime quantizer, not of {backend}", hint)


def check_options(fmt: str, options: QuantizeOptions) -> None:
    """Fail before any work when ``options`` ask ``fmt``'s quantizer for something it cannot do."""
    if fmt not in QUANTIZERS:
        raise UnsupportedError(f"no quantizer for {fmt} models", f"formats with one: {', '.join(QUANTIZERS.names())}")
    owner = getattr(options.advanced, "format", None)
    if options.advanced is not None and owner != fmt:
        raise UnsupportedError(f"{getattr(options.advanced, 'flags', 'these options')} are options of the {owner} "
                               f"quantizer (this backend quantizes {fmt} models)", f"add --backend {owner}, or drop them")
    if options.max_drop is not None and fmt not in ACCURACY_CONTROLLED:
        raise UnsupportedError(f"--max-drop (accuracy-controlled quantization) is not available for {fmt} models",
                               f"formats with it: {', '.join(ACCURACY_CONTROLLED.names()) or 'none installed'}")
    if fmt in OPTION_CHECKS:
        OPTION_CHECKS[fmt](options)
    if options.weight_only and fmt not in WEIGHT_ONLY:
        raise UnsupportedError(f"--method {options.method} (weight-only) is not available for {fmt} models",
                               f"formats with it: {', '.join(WEIGHT_ONLY.names()) or 'none installed'} "
                               "(--backend onnxruntime or openvino)")


def resolve_method(options: QuantizeOptions, spec: Any, fmt: str) -> QuantizeOptions:
    """``auto`` -> the spec's default method where ``fmt``'s quantizer offers it, else ``static``.

    ONNX Runtime quantizes transformers and LSTMs best dynamically (activation ranges taken per run; static
    QOperator leaves attention and LSTM ops in float and adds requantization around them)."""
    if options.method != "auto":
        return options
    preferred = (spec.hint("quantize", "method") if spec is not None else None) or "static"
    for method in dict.fromkeys((preferred, "static")):
        candidate = dataclasses.replace(options, method=method)
        try:
            check_options(fmt, candidate)
        except UnsupportedError:
            continue
        return candidate
    return dataclasses.replace(options, method="static")


def quantize(artifact: Artifact, options: QuantizeOptions,
             calibration: Calibration | Iterable[dict[str, np.ndarray]] | None, out_path: Path,
             held_out: HeldOut | None = None) -> Artifact:
    """Quantize ``artifact`` into ``out_path``; the result has the same format and one more lineage record.
    With ``options.max_drop``, ``held_out`` (labelled) is what the accuracy is controlled on."""
    fmt = str(artifact.format)
    options = resolve_method(options, artifact.spec, fmt)
    check_options(fmt, options)
    if calibration is not None and not isinstance(calibration, Calibration):  # ready feeds (a list of dicts)
        calibration = Calibration.of_feeds(calibration)
    if options.method == "static" and calibration is None:
        raise UnsupportedError("static quantization needs calibration data", "pass --data, or use --method dynamic")
    if options.needs_calibration and calibration is None:
        raise UnsupportedError(f"--weight-algorithm {options.algorithm} needs calibration data",
                               "pass --data, or use --weight-algorithm rtn")
    if options.max_drop is not None:
        if held_out is None or not held_out.feeds:
            raise UnsupportedError("--max-drop needs held-out data to measure the drop on",
                                   "give --data (labelled: the drop of top-1; unlabelled: the share of changed predictions)")
        return ACCURACY_CONTROLLED.get(fmt)(artifact, options, calibration or Calibration.of_feeds([]), held_out, out_path)
    if options.weight_only:
        return WEIGHT_ONLY.get(fmt)(artifact, options, calibration, out_path)
    return QUANTIZERS.get(fmt)(artifact, options, calibration, out_path)
