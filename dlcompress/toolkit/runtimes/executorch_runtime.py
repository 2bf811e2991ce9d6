"""ExecuTorch on CPU: the ``.pte`` program loaded by ExecuTorch's own Python runtime (``executorch.runtime``),
its XNNPACK delegate running on a threadpool of ``num_threads``.

- Inputs and outputs are matched by position and named by the spec.
- Shapes are static (the program is exported at batch 1): a feed of batch N runs as N consecutive batch-1
  calls; a feed whose item shape differs from the program's is one :class:`StaticShapeError` (checked here,
  before ExecuTorch's native "Attempted to resize a static tensor").
- The threadpool is process-wide in ExecuTorch; it is resized when a runtime with another thread count loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dlcompress.toolkit.artifact import Artifact, Format
from dlcompress.toolkit.errors import (
    BackendUnavailableError,
    InferenceError,
    InvalidModelFileError,
    StaticShapeError,
    UnsupportedError,
    first_line,
)
from dlcompress.toolkit.executorch_lower import (
    INSTALL_HINT,
    executorch_version,
    require,
)
from dlcompress.toolkit.native_output import native_output_captured
from dlcompress.toolkit.runtimes.base import RUNTIMES, Runtime, RuntimeOptions


def load_method(path: Path, threads: int) -> Any:
    """The program's ``forward`` method, loaded (the threadpool set to ``threads``)."""
    try:
        require()
        from executorch.extension.pybindings import portable_lib
        from executorch.runtime import Runtime as ETRuntime
    except (ImportError, BackendUnavailableError):
        raise BackendUnavailableError("the ExecuTorch runtime needs executorch", INSTALL_HINT) from None
    try:
        with native_output_captured():  # cpuinfo lines on stderr
            if portable_lib._threadpool_get_thread_count() != threads:
                portable_lib._unsafe_reset_threadpool(threads)
            return ETRuntime.get().load_program(str(path)).load_method("forward")
    except Exception as e:  # noqa: BLE001 - the loader raises RuntimeError/ValueError for bad files
        raise InvalidModelFileError(f"ExecuTorch cannot load {path}: {first_line(e) or type(e).__name__}") from None


@RUNTIMES.register("executorch")
class ExecuTorchRuntime(Runtime):
    """A ``.pte`` artifact in ExecuTorch's runtime."""

    name = "executorch"
    formats = frozenset({Format.EXECUTORCH})

    def __init__(self, artifact: Artifact, options: RuntimeOptions) -> None:
        super().__init__(artifact, options)
        if options.device != "cpu":
            raise UnsupportedError(f"the ExecuTorch runtime runs on the CPU here, not {options.device}",
                                   "GPU/NPU delegates are device-specific; use --device cpu")
        self.path = Path(artifact.path)  # type: ignore[arg-type]
        self.method: Any = load_method(self.path, options.num_threads)
        meta = self.method.metadata
        self._shapes = [tuple(int(d) for d in meta.input_tensor_meta(i).sizes()) for i in range(meta.num_inputs())]
        self._n_outputs = meta.num_outputs()
        self.model_batch = self._shapes[0][0] if self._shapes and self._shapes[0] else 1
        spec_in = [t.name for t in artifact.spec.inputs]
        if spec_in and len(spec_in) != len(self._shapes):
            raise InvalidModelFileError(f"{self.path} has {len(self._shapes)} inputs but {artifact.spec.name} declares "
                                        f"{len(spec_in)} ({', '.join(spec_in)})")

    @property
    def output_names(self) -> list[str]:
        names = [t.name for t in self.artifact.spec.outputs]
        return names if len(names) == self._n_outputs else [f"output_{i}" for i in range(self._n_outputs)]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        arrays = [np.asarray(a) for a in self.arrays(feeds)]
        n, b = len(arrays[0]), self.model_batch
        if any(tuple(a.shape[1:]) != s[1:] for a, s in zip(arrays, self._shapes)) or n % b:
            expected = ", ".join(f"{name}{list(s)}" for name, s in zip(self.input_names, self._shapes))
            got = ", ".join(f"{name}{list(a.shape)}" for name, a in zip(self.input_names, arrays))
            raise StaticShapeError(f"{self.path.name} is static-shape ({expected}) and cannot take {got}",
                                   f"feed batches that are a multiple of {b} with the same item shape, or re-export")
        tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]
        parts: list[list[np.ndarray]] = []
        for i in range(0, n, b):
            try:
                out = self.method.execute([t[i:i + b] for t in tensors])
            except Exception as e:  # noqa: BLE001 - ExecuTorch raises RuntimeError with an error code
                raise InferenceError(f"ExecuTorch failed on {self.path.name}: {first_line(e) or type(e).__name__}") from None
            parts.append([o.numpy() for o in out])
        return {name: np.concatenate([p[k] for p in parts]) for k, name in enumerate(self.output_names)}

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "version": executorch_version(), "precision": self.artifact.precision,
                "delegate": "XNNPACK", "model_batch": self.model_batch,
                "other_batches": f"consecutive calls at batch {self.model_batch} (static shapes)"}

    def close(self) -> None:
        self.method = None
