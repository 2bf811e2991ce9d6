"""LiteRT (TFLite) export with litert-torch: ``torch.export`` -> StableHLO -> ``.tflite`` flatbuffer.

Facts that shape this module (measured here, litert-torch 0.10, see ../shared/notes/stack-probe.md):

- Shapes are static. ``dynamic_shapes`` fails in the JAX lowering of convolutions ("Shapes must be 1D
  sequences of concrete values"), so models are exported at batch 1; the LiteRT runtime resizes or loops
  for other batches.
- Only what ``torch.export`` can capture converts. torchvision detectors' NMS does not (data-dependent
  shapes: ``GuardOnDataDependentSymNode``): the one-stage ones (RetinaNet, FCOS, SSD) are exported up to their
  raw head outputs and decoded on the host (:mod:`dlcompress.toolkit.host_postprocess`); elsewhere the error
  names that root cause instead of a 500-line graph dump.
- ``import litert_torch`` takes seconds and prints absl/oneDNN lines and a pytree warning; it is imported
  on first use, with that output captured.
- fp16 stores weights in float16 (ai-edge-quantizer's fp16 recipe): half the size; CPU kernels dequantize
  them to fp32 once at load, GPU delegates compute in fp16.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import time
from pathlib import Path

from dlcompress.exporters.base import EXPORTERS, Exporter, ExportOptions
from dlcompress.toolkit.artifact import Artifact, Format, StageRecord
from dlcompress.toolkit.errors import ExportError, UnsupportedError
from dlcompress.toolkit.host_postprocess import split_for
from dlcompress.toolkit.litert_convert import (
    EXPORT_BATCH,
    INSTALL_HINT,
    convert_to_tflite,
    fp16_quant_config,
    litert_torch_version,
    sample_args,
)

PRECISIONS = ("fp32", "fp16")


class LiteRTExporter(Exporter):
    """A torch artifact to a ``.tflite`` file through litert-torch, at batch 1 (LiteRT shapes are static)."""

    format = Format.LITERT
    suffix = ".tflite"
    routes = ("litert-torch",)
    supports_dynamic_batch = False
    install_hint = INSTALL_HINT

    def __init__(self, precision: str = "fp32") -> None:
        if precision not in PRECISIONS:
            raise UnsupportedError(f"LiteRT export precision {precision!r} is not supported", f"use one of: {', '.join(PRECISIONS)}")
        self.precision = precision

    def available(self) -> bool:
        return importlib.util.find_spec("litert_torch") is not None

    def export(self, artifact: Artifact, out_path: Path, options: ExportOptions) -> Artifact:
        if options.route not in ("auto", *self.routes):
            raise ExportError(f"unknown LiteRT export route {options.route!r}", f"use one of: auto, {', '.join(self.routes)}")
        if artifact.format is Format.KERAS:
            return _from_keras(artifact, Path(out_path), self.precision)
        if artifact.format is not Format.TORCH:
            raise UnsupportedError(f"LiteRT export takes a torch or Keras/TensorFlow model, not {artifact.format}")
        start = time.perf_counter()
        cut = split_for(artifact, "litert")
        network, post = cut if cut is not None else (artifact, None)
        spec = network.spec
        quant = fp16_quant_config() if self.precision == "fp16" else None
        convert_to_tflite(network.model.eval(), sample_args(spec), Path(out_path),  # type: ignore[union-attr]
                          f"LiteRT export of {spec.name}", quant)
        record = StageRecord(
            "export",
            {"format": "litert", "route": "litert-torch", "litert_torch": litert_torch_version(),
             "precision": self.precision, "batch": EXPORT_BATCH, "dynamic_batch": False,
             "weights": "float16" if self.precision == "fp16" else "float32",
             **({"host_postprocess": post.description} if post else {})},
            {"size_bytes": Path(out_path).stat().st_size, "fallback_from": []},
            seconds=round(time.perf_counter() - start, 2),
        )
        return artifact.derive(record, format=Format.LITERT, spec=spec, path=Path(out_path), model=None, source=network,
                               precision=self.precision, postprocess=post)


def _from_keras(artifact: Artifact, out_path: Path, precision: str) -> Artifact:
    """A Keras/TensorFlow model through ``tf.lite.TFLiteConverter`` (no litert-torch involved)."""
    from dlcompress.toolkit.loaders.keras_model import keras_to_tflite

    start = time.perf_counter()
    params = keras_to_tflite(artifact, out_path, precision)
    record = StageRecord("export", {"format": "litert", "route": "tflite-converter", "precision": precision,
                                    "dynamic_batch": False, **params},
                         {"size_bytes": out_path.stat().st_size, "fallback_from": []},
                         seconds=round(time.perf_counter() - start, 2))
    return artifact.derive(record, format=Format.LITERT, path=out_path, model=None, source=artifact, precision=precision)


EXPORTERS.add("litert", LiteRTExporter())
