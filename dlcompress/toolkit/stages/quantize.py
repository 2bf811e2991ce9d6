"""The quantize stage: same format in, same format out (like ``nncf.quantize``), dispatched by format.

Backends register an implementation per :class:`Format` in :data:`QUANTIZERS`; ONNX is built in
(``quantize_onnx``), OpenVINO and LiteRT add theirs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlcompress.toolkit.artifact import Artifact
from dlcompress.toolkit.errors import UnsupportedError
from dlcompress.toolkit.registry import Registry

METHODS = ("static", "dynamic", "fp16")
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
QUANT_FORMATS = ("qoperator", "qdq")


@dataclass(frozen=True)
class QuantizeOptions:
    """What to quantize to and how.

    ``method``: ``static`` int8 (calibrated activations), ``dynamic`` int8 (weights only ahead of time), ``fp16``.
    ``quant_format``: ONNX Runtime's ``qoperator`` (QLinearConv... U8S8, the fast default on x86) or ``qdq``.
    ``reduce_range``: 7-bit weights; ``None`` = automatic (on x86 CPUs without VNNI, where U8S8 can saturate).
    """

    method: str = "static"
    calibration: str = "minmax"
    quant_format: str = "qoperator"
    per_channel: bool = True
    reduce_range: bool | None = None
    samples: int = 64

    def __post_init__(self) -> None:
        for value, allowed, what in ((self.method, METHODS, "--method"),
                                     (self.calibration, CALIBRATION_METHODS, "--calibration"),
                                     (self.quant_format, QUANT_FORMATS, "--quant-format")):
            if value not in allowed:
                raise UnsupportedError(f"{what} {value!r} is not supported", f"use one of: {', '.join(allowed)}")
        if self.samples < 1:
            raise UnsupportedError(f"--calib-samples must be at least 1, got {self.samples}")

    @property
    def precision(self) -> str:
        return "fp16" if self.method == "fp16" else "int8"


CalibrationFeeds = Iterable[dict[str, np.ndarray]]
Quantizer = Callable[[Artifact, QuantizeOptions, "CalibrationFeeds | None", Path], Artifact]

QUANTIZERS: Registry[Quantizer] = Registry("quantizer")


def quantize(artifact: Artifact, options: QuantizeOptions, calibration: CalibrationFeeds | None, out_path: Path) -> Artifact:
    """Quantize ``artifact`` into ``out_path``; the result has the same format and one more lineage record."""
    if str(artifact.format) not in QUANTIZERS:
        raise UnsupportedError(f"no quantizer for {artifact.format} models", f"formats with one: {', '.join(QUANTIZERS.names())}")
    if options.method == "static" and calibration is None:
        raise UnsupportedError("static quantization needs calibration data", "pass --data, or use --method dynamic")
    return QUANTIZERS.get(str(artifact.format))(artifact, options, calibration, out_path)
