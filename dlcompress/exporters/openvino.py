"""OpenVINO IR export: ``openvino.convert_model`` from the torch module first, from an ONNX export where the
PyTorch frontend cannot take the model. Saved as ``.xml`` + ``.bin`` with ``compress_to_fp16=False``, so the
fp32 IR really holds fp32 weights (``save_model`` halves them by default).

Routes: ``torch`` (PyTorch frontend, traced with the spec's example inputs), ``onnx`` (ONNX export with the
ONNX exporter's own fallback, then the ONNX frontend); ``dynamo``/``torchscript`` pick the ONNX route with
that ONNX exporter. ``auto`` tries ``torch`` then ``onnx``. An ONNX artifact (a user's file) is read directly.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from dlcompress.exporters.base import EXPORTERS, Exporter, ExportOptions
from dlcompress.toolkit.artifact import Artifact, Format, StageRecord
from dlcompress.toolkit.errors import DLCompressError, ExportError, message_lines
from dlcompress.toolkit.openvino_ir import save
from dlcompress.toolkit.progress import silenced
from dlcompress.toolkit.spec import ModelSpec

ONNX_SUBROUTES = ("dynamo", "torchscript")


class OpenVinoExporter(Exporter):
    format = Format.OPENVINO
    suffix = ".xml"
    routes = ("torch", "onnx")
    supports_dynamic_batch = True
    install_hint = "pip install 'dlcompress[openvino]'"

    def available(self) -> bool:
        import importlib.util

        return importlib.util.find_spec("openvino") is not None

    def export(self, artifact: Artifact, out_path: Path, options: ExportOptions) -> Artifact:
        allowed = ("auto", *self.routes, *ONNX_SUBROUTES)
        if options.route not in allowed:
            raise ExportError(f"unknown OpenVINO export route {options.route!r}", f"use one of: {', '.join(allowed)}")
        routes = self.routes if options.route == "auto" else (options.route,)
        if artifact.format is Format.ONNX:  # a user's ONNX file: the ONNX frontend reads it directly
            routes = ("onnx-file",)
        elif artifact.format is Format.KERAS:  # Keras/TensorFlow: through tf2onnx's ONNX
            routes = ("onnx",)
        failures: list[str] = []
        for route in routes:
            start = time.perf_counter()
            try:
                model, detail = self._convert(route, artifact, out_path, options)
                name_io(model, artifact.spec)
                save(model, out_path, compress_to_fp16=False)
            except Exception as e:  # noqa: BLE001 - frontends raise anything; collect and try the next route
                failures.append(f"{route}: {type(e).__name__}: {_first_line(e)}")
                out_path.unlink(missing_ok=True)
                out_path.with_suffix(".bin").unlink(missing_ok=True)
                continue
            size = out_path.stat().st_size + out_path.with_suffix(".bin").stat().st_size
            record = StageRecord(
                "export",
                {"format": "openvino", "route": detail, "compress_to_fp16": False,
                 "input_shapes": {tensor_names(p): str(p.get_partial_shape()) for p in model.inputs}},
                {"size_bytes": size, "fallback_from": failures},
                seconds=round(time.perf_counter() - start, 2),
            )
            return artifact.derive(record, format=Format.OPENVINO, path=out_path, model=None, source=artifact)
        raise ExportError(f"OpenVINO export of {artifact.spec.name} failed: " + " | ".join(failures))

    def _convert(self, route: str, artifact: Artifact, out_path: Path, options: ExportOptions) -> tuple[Any, str]:
        import openvino as ov

        if route == "torch":
            return from_torch(artifact, options.dynamic_batch), "torch"
        if route == "onnx-file":
            with silenced(ignore_warnings=True):
                return ov.convert_model(str(artifact.path)), "onnx file"
        onnx_route = route if route in ONNX_SUBROUTES else "auto"
        with tempfile.TemporaryDirectory(prefix="dlc-ov-", dir=out_path.parent) as tmp:
            onnx_art = EXPORTERS.get("onnx").export(
                artifact, Path(tmp) / "model.onnx",
                ExportOptions(route=onnx_route, opset=options.opset, dynamic_batch=options.dynamic_batch))
            with silenced(ignore_warnings=True):
                model = ov.convert_model(str(onnx_art.path))
            return model, f"onnx ({onnx_art.lineage[-1].params['route']})"


def from_torch(artifact: Artifact, dynamic: bool) -> Any:
    """Convert the torch module with the PyTorch frontend, traced on the spec's example inputs."""
    import openvino as ov
    import torch

    spec = artifact.spec
    feeds = spec.example_inputs(batch=2 if dynamic else 1)
    example = tuple(torch.from_numpy(feeds[t.name]) for t in spec.inputs)
    if dynamic:  # every symbolic dim of the spec stays dynamic
        shapes = [ov.PartialShape([d if isinstance(d, int) else -1 for d in t.shape]) for t in spec.inputs]
    else:
        shapes = [ov.PartialShape(list(feeds[t.name].shape)) for t in spec.inputs]
    with silenced(ignore_warnings=True), torch.no_grad():
        return ov.convert_model(artifact.model.eval(), example_input=example, input=shapes)  # type: ignore[union-attr]


def name_io(model: Any, spec: ModelSpec) -> None:
    """Give the model's inputs and outputs the spec's names (the PyTorch frontend names inputs after
    ``forward``'s arguments and leaves outputs unnamed)."""
    if len(model.inputs) == len(spec.inputs):
        for port, t, param in zip(model.inputs, spec.inputs, model.get_parameters()):
            port.get_tensor().set_names({t.name})
            param.set_friendly_name(t.name)
    if len(model.outputs) == len(spec.outputs):
        for port, t in zip(model.outputs, spec.outputs):
            port.get_tensor().set_names({t.name})


def tensor_names(port: Any) -> str:
    return ",".join(sorted(port.get_names())) or "?"


def _first_line(e: BaseException) -> str:
    """One line from a frontend error: OpenVINO's start with "Check ... failed at <file>" and end with a
    summary of the ops it could not convert, after the cause of the first one."""
    if isinstance(e, DLCompressError):
        return str(e)[:600]
    lines = message_lines(e)
    failed = [ln.removeprefix("-- Conversion is failed for:").strip() for ln in lines
              if ln.startswith("-- Conversion is failed for:")]
    useful = [ln for ln in lines if not ln.startswith(("Check ", "Exception from src", "File ", "FrontEnd API failed",
                                                       "Model wasn't fully", "Summary:", "--", "[ONNX Frontend]"))]
    if failed:
        cause = next((ln for ln in useful if not ln.startswith("While validating")), "")
        return f"cannot convert {', '.join(failed)}" + (f" ({cause})" if cause else "")[:300]
    return ((useful or lines or [""])[0])[:300]


EXPORTERS.add("openvino", OpenVinoExporter())
