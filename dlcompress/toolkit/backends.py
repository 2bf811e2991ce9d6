"""Backends: deployment targets that tie a format to its exporter, quantizer and runtime.

``--backend`` values are the names registered here. A backend whose packages are missing stays listed and
says which extra installs it; nothing fails at import time.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from dlcompress.toolkit.artifact import Format
from dlcompress.toolkit.errors import BackendUnavailableError
from dlcompress.toolkit.registry import Registry


@dataclass(frozen=True)
class Backend:
    """``exporter`` and ``runtime`` are keys of EXPORTERS and RUNTIMES; quantizers are keyed by ``format``.
    ``stem``/``suffix`` name the files in an output folder (``model.onnx``, ``model.int8.onnx``)."""

    name: str
    format: Format
    exporter: str
    runtime: str
    suffix: str
    requires: tuple[str, ...] = ()
    extra: str | None = None
    stem: str = "model"
    description: str = ""

    def filename(self, precision: str = "fp32") -> str:
        return f"{self.stem}{self.suffix}" if precision == "fp32" else f"{self.stem}.{precision}{self.suffix}"

    def available(self) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in self.requires)

    def require(self) -> Backend:
        """Self, or a clear error naming the extra that installs the missing packages."""
        missing = [m for m in self.requires if importlib.util.find_spec(m) is None]
        if missing:
            hint = f"pip install 'dlcompress[{self.extra}]'" if self.extra else f"pip install {' '.join(missing)}"
            raise BackendUnavailableError(f"backend {self.name!r} needs {', '.join(missing)}, which is not installed", hint)
        return self


BACKENDS: Registry[Backend] = Registry("backend")


def backend_for(fmt: str) -> Backend | None:
    """The first registered backend that deploys ``fmt`` (onnx, openvino, litert, executorch), installed or not."""
    return next((b for b in map(BACKENDS.get, BACKENDS.names()) if str(b.format) == fmt), None)

BACKENDS.add("onnxruntime", Backend(
    "onnxruntime", Format.ONNX, exporter="onnx", runtime="onnxruntime", suffix=".onnx", requires=("onnxruntime",),
    description="ONNX file run by ONNX Runtime (CPU; CUDA where onnxruntime-gpu is installed)",
))

BACKENDS.add("openvino", Backend(
    "openvino", Format.OPENVINO, exporter="openvino", runtime="openvino", suffix=".xml", requires=("openvino", "nncf"),
    extra="openvino",
    description="OpenVINO IR (.xml + .bin) on the CPU plugin; int8 with NNCF (f32 precision unless asked otherwise)",
))

BACKENDS.add("litert", Backend(
    "litert", Format.LITERT, exporter="litert", runtime="litert", suffix=".tflite",
    requires=("litert_torch", "ai_edge_litert"), extra="litert",
    description="LiteRT/TFLite flatbuffer (litert-torch, batch 1) run by the LiteRT interpreter with XNNPACK; "
                "int8 with litert-torch's PT2E quantizer (full-integer; --int8-io for integer-only accelerators)",
))


BACKENDS.add("executorch", Backend(
    "executorch", Format.EXECUTORCH, exporter="executorch", runtime="executorch", suffix=".pte",
    requires=("executorch",), extra="executorch",
    description="ExecuTorch program (.pte, batch 1) with the XNNPACK delegate, run by ExecuTorch's runtime; "
                "int8 with PT2E and the XNNPACK quantizer (symmetric, per-channel)",
))
