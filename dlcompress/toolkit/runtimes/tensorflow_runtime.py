"""TensorFlow runtime: runs a Keras file or SavedModel (:attr:`Format.KERAS`) eagerly — the reference its
TFLite, ONNX and OpenVINO conversions are validated against."""

from __future__ import annotations

import numpy as np

from dlcompress.toolkit.artifact import Artifact, Format
from dlcompress.toolkit.errors import InferenceError, first_line
from dlcompress.toolkit.loaders.keras_model import model_of, tensorflow
from dlcompress.toolkit.runtimes.base import (
    RUNTIMES,
    Runtime,
    RuntimeOptions,
    feed_summary,
)


@RUNTIMES.register("tensorflow")
class TensorFlowRuntime(Runtime):
    """``model(inputs, training=False)`` on the CPU with the job's thread count."""

    name = "tensorflow"
    formats = frozenset({Format.KERAS})

    def __init__(self, artifact: Artifact, options: RuntimeOptions) -> None:
        super().__init__(artifact, options)
        self.tf = tensorflow()
        self.model = model_of(artifact)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = [np.ascontiguousarray(a) for a in self.arrays(feeds)]
        try:
            with self.tf.device("/CPU:0"):
                outs = self.model(arrays)
        except Exception as e:  # noqa: BLE001 - TensorFlow raises InvalidArgumentError and friends
            raise InferenceError(f"tensorflow failed to run {self.artifact.spec.name}: {type(e).__name__}: "
                                 f"{first_line(e, 300)}", f"inputs given: {feed_summary(feeds)}") from None
        return {n: np.asarray(o, dtype=np.float32) if np.issubdtype(np.asarray(o).dtype, np.floating) else np.asarray(o)
                for n, o in zip(self.output_names, outs)}

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "version": self.tf.__version__, "precision": "fp32"}
