"""The litert-torch conversion calls shared by the LiteRT exporter and the LiteRT quantizer: a quiet import of
``litert_torch``, example arguments from a spec, ``convert(...).export(path)`` with failures turned into one
:class:`ExportError` line that names the root cause, and the fp16 weight recipe."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import traceback
import warnings
from pathlib import Path
from typing import Any

import torch

from dlcompress.toolkit.errors import (
    BackendUnavailableError,
    ExportError,
    message_lines,
)
from dlcompress.toolkit.native_output import Captured, native_output_captured
from dlcompress.toolkit.tensorflow_import import triton_loaded_first

EXPORT_BATCH = 1
INSTALL_HINT = "pip install 'dlcompress[litert]'"
TORCH_EXPORT_HINT = ("litert-torch converts only what torch.export can capture (no data-dependent shapes, no "
                     "Python control flow on tensor values): post-processing such as a detector's NMS is the usual case; "
                     "use the ONNX or OpenVINO format instead, whose TorchScript route takes them")


def litert_torch_module() -> Any:
    """``litert_torch``, imported once, quietly, with its progress printing off."""
    if importlib.util.find_spec("litert_torch") is None:
        raise BackendUnavailableError("LiteRT export needs litert-torch, which is not installed", INSTALL_HINT)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    triton_loaded_first()  # litert-torch imports TensorFlow where it is installed
    logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
    with native_output_captured(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import litert_torch
    litert_torch.config.show_progress = False
    return litert_torch


def litert_torch_version() -> str:
    try:
        return importlib.metadata.version("litert-torch")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - checked before use
        return "unknown"


def sample_args(spec, batch: int = EXPORT_BATCH, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Example inputs in the spec's order (what the exported signature is traced with)."""
    feeds = spec.example_inputs(batch, seed=seed)
    return tuple(torch.from_numpy(feeds[t.name]) for t in spec.inputs)


def convert_to_tflite(module: torch.nn.Module, args: tuple[torch.Tensor, ...], out_path: Path, what: str,
                      quant_config: Any = None) -> None:
    """``litert_torch.convert(module, args, quant_config=...).export(out_path)``; failures become one
    :class:`ExportError` line that names the root cause."""
    lt = litert_torch_module()
    captured = Captured()
    try:
        with native_output_captured() as captured, warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            lt.convert(module, args, quant_config=quant_config).export(str(out_path))
    except Exception as e:  # noqa: BLE001 - torch.export / lowering / converter raise anything
        Path(out_path).unlink(missing_ok=True)
        raise conversion_error(e, what, captured) from None


def conversion_error(e: BaseException, what: str, captured: Captured) -> ExportError:
    """One line: where it failed (torch.export, lowering, converter), the root exception, the user-code line."""
    root = e
    while root.__cause__ is not None or (root.__context__ is not None and not root.__suppress_context__):
        root = root.__cause__ or root.__context__  # type: ignore[assignment]
    lines = message_lines(root)
    first = (lines[0] if lines else type(root).__name__)
    first = first if len(first) <= 240 else first[:237] + "..."
    where = next((ln for ln in lines if ln.startswith("Caused by:")), "")
    frames = [f.filename for f in traceback.extract_tb(e.__traceback__)]
    in_export = any("torch/export" in f or "torch/_dynamo" in f for f in frames) \
        or type(root).__module__.startswith(("torch.fx", "torch._dynamo", "torch.export"))
    if in_export:
        msg = f"{what}: torch.export cannot capture the model: {type(root).__name__}: {first}"
        return ExportError(msg + (f" [{where}]" if where else ""), TORCH_EXPORT_HINT)
    if any("Lowering not found" in ln for ln in lines) or "lowering" in type(root).__name__.lower():
        return ExportError(f"{what}: litert-torch has no LiteRT lowering for an op: {first}",
                           "find the op with litert-torch's find_culprits tool, or use the ONNX or OpenVINO format")
    native = captured.last_lines(2, contains="error")
    detail = f" (converter: {' | '.join(native)})" if native else ""
    return ExportError(f"{what}: {type(root).__name__}: {first}{detail}",
                       "use the ONNX or OpenVINO format, or report the model to litert-torch")


def fp16_quant_config() -> Any:
    """litert-torch's fp16 weight recipe (ai-edge-quantizer): float16 weights, float32 I/O."""
    litert_torch_module()
    from litert_torch.generative.quantize import quant_recipes

    return quant_recipes.full_fp16_recipe()
