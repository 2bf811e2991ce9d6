"""ONNX Runtime on CPU (and CUDA where the provider is installed).

Sessions do not spin-wait: with spinning on, an idle session's workers steal a core from the session being
timed (measured here: QOperator ResNet-50 p50 12.9 ms alone, 17.8 ms next to a second spinning session, 14.4 ms
with spinning off; see ../shared/notes/perf-anchors.md). ORT's process-wide thread pool would avoid that too,
but once it exists every session must opt in, and ORT's own quantization tools create sessions that do not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dlcompress.toolkit.artifact import Artifact, Format
from dlcompress.toolkit.errors import InferenceError, InvalidModelFileError, first_line
from dlcompress.toolkit.runtimes.base import (
    RUNTIMES,
    Runtime,
    RuntimeOptions,
    feed_summary,
)


def session_options(threads: int, optimized_model_path: Path | None = None, float16: bool = False) -> Any:
    """Options for a timed CPU session: no spinning, one inter-op thread; ``float16`` graphs stop at the
    extended optimization level (ORT 1.32's layout optimizations segfault on some fp16 graphs, and they are
    float32 kernels anyway)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    level = ort.GraphOptimizationLevel
    so.graph_optimization_level = level.ORT_ENABLE_EXTENDED if float16 else level.ORT_ENABLE_ALL
    so.log_severity_level = 3
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if optimized_model_path is not None:
        so.optimized_model_filepath = str(optimized_model_path)
    return so


def providers_for(device: str) -> list[str]:
    import onnxruntime as ort

    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise InvalidModelFileError("ONNX Runtime's CUDA provider is not installed", "pip install onnxruntime-gpu")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


@RUNTIMES.register("onnxruntime")
class OnnxRuntime(Runtime):
    """An ONNX artifact in an ``onnxruntime.InferenceSession``."""

    name = "onnxruntime"
    formats = frozenset({Format.ONNX})

    def __init__(self, artifact: Artifact, options: RuntimeOptions) -> None:
        import onnxruntime as ort

        super().__init__(artifact, options)
        try:
            self.session = ort.InferenceSession(
                str(artifact.path),
                session_options(options.num_threads, float16=artifact.precision == "fp16"),
                providers=providers_for(options.device),
            )
        except Exception as e:  # noqa: BLE001 - ORT raises Fail/InvalidGraph/... for bad files
            raise InvalidModelFileError(f"ONNX Runtime cannot load {artifact.path}: {first_line(e) or type(e).__name__}") from None
        self._outputs = [o.name for o in self.session.get_outputs()]
        self._inputs = {i.name: i.type for i in self.session.get_inputs()}

    @property
    def input_names(self) -> list[str]:
        return list(self._inputs)

    @property
    def output_names(self) -> list[str]:
        return list(self._outputs)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            outs = self.session.run(self._outputs, {k: feeds[k] for k in self._inputs})
        except Exception as e:  # noqa: BLE001 - ORT raises InvalidArgument/RuntimeException/... on bad feeds
            raise InferenceError(f"ONNX Runtime failed to run {self.artifact.path.name}: {first_line(e, lines=4)}",
                                 f"inputs given: {feed_summary(feeds)}") from None
        return dict(zip(self._outputs, outs))

    def describe(self) -> dict[str, object]:
        import onnxruntime as ort

        return {**super().describe(), "version": ort.__version__, "providers": self.session.get_providers(),
                "precision": self.artifact.precision}
