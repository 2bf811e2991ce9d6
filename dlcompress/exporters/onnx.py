"""ONNX export: the dynamo exporter first, the TorchScript exporter where dynamo cannot take the model
(torchvision detection models fail ``torch.export`` on data-dependent shapes); tf2onnx for Keras/TensorFlow
models."""

from __future__ import annotations

import contextlib
import functools
import time
from pathlib import Path

import torch

from dlcompress.exporters.base import EXPORTERS, Exporter, ExportOptions
from dlcompress.toolkit.artifact import Artifact, Format, StageRecord
from dlcompress.toolkit.errors import ExportError, first_line
from dlcompress.toolkit.native_output import native_output_captured
from dlcompress.toolkit.progress import silenced

DEFAULT_OPSET_TORCHSCRIPT = 17


class OnnxExporter(Exporter):
    format = Format.ONNX
    suffix = ".onnx"
    routes = ("dynamo", "torchscript")
    supports_dynamic_batch = True

    def export(self, artifact: Artifact, out_path: Path, options: ExportOptions) -> Artifact:
        if artifact.format is Format.KERAS:
            return _from_keras(artifact, Path(out_path), options)
        spec = artifact.spec
        model = artifact.model.eval()  # type: ignore[union-attr]
        routes = (spec.hint("onnx", "routes") or self.routes) if options.route == "auto" else (options.route,)
        if options.route not in ("auto", *self.routes):
            raise ExportError(f"unknown ONNX export route {options.route!r}", f"use one of: auto, {', '.join(self.routes)}")
        feeds = spec.example_inputs(batch=2 if options.dynamic_batch else 1)
        args = tuple(torch.from_numpy(feeds[t.name]) for t in spec.inputs)
        axes = {}
        if options.dynamic_batch:
            axes = {t.name: t.dynamic_axes() for t in (*spec.inputs, *spec.outputs) if t.dynamic_axes()}
        failures: list[str] = []
        for route in routes:
            start = time.perf_counter()
            try:
                _run_export(route, model, args, out_path, spec, axes, options.opset)
            except Exception as e:  # noqa: BLE001 - exporters raise anything; collect and try the next route
                failures.append(f"{route}: {type(e).__name__}: {first_line(e)}")
                out_path.unlink(missing_ok=True)
                continue
            import onnx

            opset = next((o.version for o in onnx.load(str(out_path), load_external_data=False).opset_import
                          if o.domain in ("", "ai.onnx")), None)
            record = StageRecord(
                "export",
                {"format": "onnx", "route": route, "opset": opset, "dynamic_axes": {k: list(v.values()) for k, v in axes.items()}},
                {"size_bytes": out_path.stat().st_size, "fallback_from": failures},
                seconds=round(time.perf_counter() - start, 2),
            )
            return artifact.derive(record, format=Format.ONNX, path=out_path, model=None, source=artifact)
        raise ExportError(f"ONNX export of {spec.name} failed: " + " | ".join(failures))


def _from_keras(artifact: Artifact, out_path: Path, options: ExportOptions) -> Artifact:
    """A Keras/TensorFlow model through tf2onnx (the only route for it)."""
    from dlcompress.toolkit.loaders.keras_model import keras_to_onnx

    if options.route not in ("auto", "tf2onnx"):
        raise ExportError(f"a Keras/TensorFlow model exports to ONNX through tf2onnx, not {options.route!r}",
                          "drop --exporter or give --exporter tf2onnx")
    start = time.perf_counter()
    params = keras_to_onnx(artifact, out_path, options.opset, options.dynamic_batch)
    axes = {t.name: list(t.dynamic_axes().values()) for t in artifact.spec.inputs} if options.dynamic_batch else {}
    record = StageRecord("export", {"format": "onnx", **params, "dynamic_axes": axes},
                         {"size_bytes": out_path.stat().st_size, "fallback_from": []},
                         seconds=round(time.perf_counter() - start, 2))
    return artifact.derive(record, format=Format.ONNX, path=out_path, model=None, source=artifact)


def _run_export(route: str, model: torch.nn.Module, args: tuple, out: Path, spec, axes: dict, opset: int | None) -> None:  # noqa: ANN001
    names_in = [t.name for t in spec.inputs]
    names_out = [t.name for t in spec.outputs]
    with silenced(ignore_warnings=True), torch.no_grad():
        if route == "dynamo":
            _torchlib_table_built_once()
            torch.onnx.export(model, args, str(out), dynamo=True, external_data=False, verbose=False,
                              input_names=names_in, output_names=names_out, dynamic_axes=axes or None,
                              opset_version=opset, optimize=True)
        else:
            # native_output_captured: on failure torch's C++ side prints the whole IR graph on fd 1 (stdout is
            # for --json); aten::_native_multi_head_attention (ViT's eval fast path) has no symbolic
            with native_output_captured(), _mha_fastpath(False):
                torch.onnx.export(model, args, str(out), dynamo=False, input_names=names_in, output_names=names_out,
                                  dynamic_axes=axes or None, opset_version=opset or DEFAULT_OPSET_TORCHSCRIPT,
                                  do_constant_folding=True)


def _torchlib_table_built_once() -> None:
    """Let onnxscript build its table of torchlib functions once per process instead of on every export.

    torch.onnx's dynamo exporter asks onnxscript for the table at each call, and onnxscript re-parses the
    source of ~500 functions to make it: about 1 s of every export on a 2-core EPYC (small_cnn: 2.8 -> 1.9 s,
    byte-identical files). The table is only read. A no-op where torch keeps the hook elsewhere.
    """
    try:
        from torch.onnx._internal.exporter import _registration
    except ImportError:
        return
    apis = getattr(_registration, "onnxscript_apis", None)
    build = getattr(apis, "get_torchlib_ops", None)
    if callable(build) and not hasattr(build, "cache_info"):
        apis.get_torchlib_ops = functools.cache(build)


@contextlib.contextmanager
def _mha_fastpath(enabled: bool):  # noqa: ANN202
    """Switch ``nn.MultiheadAttention``'s fused inference path on or off for a block."""
    before = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(enabled)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(before)


EXPORTERS.add("onnx", OnnxExporter())
