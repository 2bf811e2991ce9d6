"""Runtimes, one module per backend. Backends that are not installed fail at load time, not at import."""

from dlcompress.benchmarks.runtimes import onnxruntime_runtime, torch_runtime  # noqa: F401  (registers)
from dlcompress.benchmarks.runtimes.base import RUNTIMES, Runtime, RuntimeOptions

__all__ = ["RUNTIMES", "Runtime", "RuntimeOptions", "open_runtime"]

DEFAULT_RUNTIME = {"torch": "torch", "onnx": "onnxruntime"}


def open_runtime(artifact, options: RuntimeOptions | None = None, name: str | None = None) -> Runtime:  # noqa: ANN001
    """The runtime for an artifact's format (or the one named)."""
    from dlcompress.toolkit.errors import UnsupportedError

    name = name or DEFAULT_RUNTIME.get(str(artifact.format))
    if name is None:
        raise UnsupportedError(f"no runtime registered for format {artifact.format}")
    return RUNTIMES.get(name)(artifact, options or RuntimeOptions())
