"""LiteRT on CPU: ``ai_edge_litert.interpreter.Interpreter`` (XNNPACK delegate, ``num_threads``).

- Inputs and outputs are matched by position and renamed to the spec's names: the converted model calls
  them ``serving_default_args_0`` / ``..._output_0`` whatever the torch names were.
- Integer I/O (full-int8 models made with ``--int8-io``): float feeds are quantized with the input's
  scale/zero-point and integer outputs dequantized, so fidelity compares floats. That work is part of the
  timed call, as it is in an application.
- Shapes are static. A feed whose batch differs from the model's is run by resizing the input
  (``resize_tensor_input``) where the graph allows it, else as consecutive calls at the model's batch;
  ``describe()`` says which.
- Not tflite-runtime: it is built for numpy 1 and fails under numpy 2.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import numpy as np

from dlcompress.toolkit.artifact import Artifact, Format
from dlcompress.toolkit.errors import (
    BackendUnavailableError,
    InvalidModelFileError,
    StaticShapeError,
    UnsupportedError,
    first_line,
)
from dlcompress.toolkit.native_output import native_output_captured
from dlcompress.toolkit.runtimes.base import RUNTIMES, Runtime, RuntimeOptions

INTEGER_DTYPES = (np.int8, np.uint8, np.int16)


def _interpreter(path: Path, threads: int) -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise BackendUnavailableError("the LiteRT runtime needs ai-edge-litert", "pip install 'dlcompress[litert]'") from None
    try:
        with native_output_captured():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
            it = Interpreter(model_path=str(path), num_threads=threads)
            it.allocate_tensors()
    except Exception as e:  # noqa: BLE001 - the interpreter raises ValueError/RuntimeError for bad files
        raise InvalidModelFileError(f"LiteRT cannot load {path}: {first_line(e) or type(e).__name__}") from None
    return it


def quantize_input(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """A float array in an integer input's dtype, with its scale and zero-point (saturating)."""
    dtype = detail["dtype"]
    if x.dtype == dtype:
        return x
    scale, zero = detail["quantization"]
    if not np.issubdtype(dtype, np.integer) or not scale:
        return x.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero, info.min, info.max).astype(dtype)


def dequantize_output(y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    scale, zero = detail["quantization"]
    if y.dtype in INTEGER_DTYPES and scale:
        return (y.astype(np.float32) - zero) * np.float32(scale)
    return y


@RUNTIMES.register("litert")
class LiteRTRuntime(Runtime):
    """A ``.tflite`` artifact in the LiteRT interpreter."""

    name = "litert"
    formats = frozenset({Format.LITERT})

    def __init__(self, artifact: Artifact, options: RuntimeOptions) -> None:
        super().__init__(artifact, options)
        if options.device != "cpu":
            raise UnsupportedError(f"the LiteRT runtime runs on the CPU here, not {options.device}",
                                   "GPU/NPU delegates are device-specific; use --device cpu")
        self.path = Path(artifact.path)  # type: ignore[arg-type]
        self.interpreter = _interpreter(self.path, options.num_threads)
        self._inputs = self.interpreter.get_input_details()
        self._outputs = self.interpreter.get_output_details()
        self.model_batch = int(self._inputs[0]["shape"][0]) if len(self._inputs[0]["shape"]) else 1
        self._shapes = [tuple(int(d) for d in i["shape"]) for i in self._inputs]
        self.batch_mode = "native"
        self._resizable: bool | None = None  # learnt on the first feed whose shape differs from the model's
        spec_in = [t.name for t in artifact.spec.inputs]
        if spec_in and len(spec_in) != len(self._inputs):
            raise InvalidModelFileError(f"{self.path} has {len(self._inputs)} inputs but {artifact.spec.name} declares "
                                        f"{len(spec_in)} ({', '.join(spec_in)})")

    @property
    def input_names(self) -> list[str]:
        names = [t.name for t in self.artifact.spec.inputs]
        return names if names else [d["name"] for d in self._inputs]

    @property
    def output_names(self) -> list[str]:
        names = [t.name for t in self.artifact.spec.outputs]
        return names if len(names) == len(self._outputs) else [d["name"] for d in self._outputs]

    @property
    def integer_io(self) -> bool:
        return any(np.dtype(d["dtype"]) in (np.dtype(t) for t in INTEGER_DTYPES) and d["quantization"][0]
                   for d in (*self._inputs, *self._outputs))

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = [np.asarray(a) for a in self.arrays(feeds)]
        shapes = [tuple(a.shape) for a in arrays]
        if shapes != self._shapes and not self._resize(shapes):
            return self._run_in_chunks(arrays)
        return self._invoke(arrays)

    def _invoke(self, arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
        it = self.interpreter
        for detail, x in zip(self._inputs, arrays):
            it.set_tensor(detail["index"], np.ascontiguousarray(quantize_input(x, detail)))
        it.invoke()
        return {name: dequantize_output(it.get_tensor(d["index"]), d) for name, d in zip(self.output_names, self._outputs)}

    def _resize(self, shapes: list[tuple[int, ...]]) -> bool:
        """Resize the inputs to ``shapes``; False (and the model back at its own shape) where the graph cannot.
        The first resize is probed with one call, since some kernels accept the new shape and fail at run time."""
        if self._resizable is False:
            return False
        it = self.interpreter
        try:
            for detail, shape in zip(self._inputs, shapes):
                it.resize_tensor_input(detail["index"], list(shape), strict=False)
            it.allocate_tensors()
            if self._resizable is None:
                out = self._invoke([np.zeros(s, dtype=d["dtype"]) for s, d in zip(shapes, self._inputs)])
                if any(len(v.shape) and v.shape[0] != shapes[0][0] for v in out.values()):
                    raise ValueError("output batch did not follow the input batch")
        except Exception:  # noqa: BLE001 - XNNPACK/kernels refuse some reshapes ("failed to prepare")
            if self._resizable:
                raise
            self.interpreter = _interpreter(self.path, self.options.num_threads)
            self._inputs, self._outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
            self._shapes = [tuple(int(d) for d in i["shape"]) for i in self._inputs]
            self._resizable, self.batch_mode = False, "chunked"
            return False
        self._inputs, self._outputs = it.get_input_details(), it.get_output_details()
        self._shapes = [tuple(s) for s in shapes]
        self._resizable, self.batch_mode = True, "resized"
        return True

    def _run_in_chunks(self, arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Consecutive calls at the model's own batch (for graphs that cannot be resized)."""
        n, b = len(arrays[0]), self.model_batch
        if any(tuple(a.shape[1:]) != s[1:] for a, s in zip(arrays, self._shapes)) or n % b:
            expected = ", ".join(f"{name}{list(s)}" for name, s in zip(self.input_names, self._shapes))
            got = ", ".join(f"{name}{list(a.shape)}" for name, a in zip(self.input_names, arrays))
            raise StaticShapeError(f"{self.path.name} is static-shape ({expected}) and cannot be resized to {got}",
                                  f"feed batches that are a multiple of {b} with the same item shape, or re-export")
        parts = [self._invoke([a[i:i + b] for a in arrays]) for i in range(0, n, b)]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def describe(self) -> dict[str, object]:
        try:
            version = importlib.metadata.version("ai-edge-litert")
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover
            version = "unknown"
        return {**super().describe(), "version": version, "precision": self.artifact.precision, "delegate": "XNNPACK",
                "io": "int8" if self.integer_io else "float32", "model_batch": self.model_batch,
                "other_batches": {"native": "not run", "resized": "input resized to the feed's batch",
                                  "chunked": f"consecutive calls at batch {self.model_batch} (graph not resizable)"}[self.batch_mode]}
