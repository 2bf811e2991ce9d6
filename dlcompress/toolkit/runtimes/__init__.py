"""Runtimes, one module per backend, imported on first use (so a process that runs ONNX Runtime does not
import torch, and a missing optional backend fails only when it is asked for)."""

from __future__ import annotations

import importlib

from dlcompress.toolkit.artifact import Artifact
from dlcompress.toolkit.errors import UnsupportedError
from dlcompress.toolkit.runtimes.base import RUNTIMES, Runtime, RuntimeOptions

__all__ = ["RUNTIMES", "RUNTIME_MODULES", "Runtime", "RuntimeOptions", "get_runtime", "open_runtime"]

# runtime name -> module that registers it
RUNTIME_MODULES = {
    "torch": "dlcompress.toolkit.runtimes.torch_runtime",
    "onnxruntime": "dlcompress.toolkit.runtimes.onnxruntime_runtime",
    "openvino": "dlcompress.toolkit.runtimes.openvino_runtime",
    "litert": "dlcompress.toolkit.runtimes.litert_runtime",
    "executorch": "dlcompress.toolkit.runtimes.executorch_runtime",
    "tensorflow": "dlcompress.toolkit.runtimes.tensorflow_runtime",
}

# format -> the runtime used when none is named
DEFAULT_RUNTIME = {"torch": "torch", "onnx": "onnxruntime", "openvino": "openvino", "litert": "litert",
                   "executorch": "executorch", "keras": "tensorflow"}


def get_runtime(name: str) -> type[Runtime]:
    """The runtime class registered as ``name`` (importing its module on first use)."""
    if name not in RUNTIMES and name in RUNTIME_MODULES:
        importlib.import_module(RUNTIME_MODULES[name])
    if name not in RUNTIMES:
        for module in RUNTIME_MODULES.values():  # fill the registry so the error can suggest names
            try:
                importlib.import_module(module)
            except ImportError:
                continue
    return RUNTIMES.get(name)


def open_runtime(artifact: Artifact, options: RuntimeOptions | None = None, name: str | None = None) -> Runtime:
    """Load ``artifact`` into the runtime for its format (or the one named)."""
    name = name or DEFAULT_RUNTIME.get(str(artifact.format))
    if name is None:
        raise UnsupportedError(f"no runtime registered for format {artifact.format}")
    runtime = get_runtime(name)(artifact, options or RuntimeOptions())
    if artifact.postprocess is None:
        return runtime
    from dlcompress.toolkit.host_postprocess import PostprocessedRuntime

    return PostprocessedRuntime(runtime, artifact.postprocess)
