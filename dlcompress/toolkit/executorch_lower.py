"""The ExecuTorch lowering shared by the ExecuTorch exporter and quantizer: ``torch.export`` at batch 1 ->
``to_edge_transform_and_lower`` with the XNNPACK partitioner -> ``to_executorch()`` -> a ``.pte`` file, with
failures turned into one :class:`ExportError` line (the LiteRT path's :func:`conversion_error`) and the count of
nodes XNNPACK took.

ExecuTorch programs have static shapes here (batch 1, like LiteRT); the runtime loops for other batches.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import warnings
from pathlib import Path
from typing import Any

from dlcompress.toolkit.errors import BackendUnavailableError, ExportError
from dlcompress.toolkit.native_output import Captured, native_output_captured

EXPORT_BATCH = 1
INSTALL_HINT = "pip install 'dlcompress[executorch]'"
TORCH_EXPORT_HINT = ("ExecuTorch lowers only what torch.export can capture (no data-dependent shapes, no Python "
                     "control flow on tensor values): post-processing such as a detector's NMS is the usual case; use the ONNX "
                     "or OpenVINO format instead, whose TorchScript route takes them")


def available() -> bool:
    return importlib.util.find_spec("executorch") is not None


def require() -> None:
    """A clear error where the ``executorch`` package is missing."""
    if not available():
        raise BackendUnavailableError("ExecuTorch export needs executorch, which is not installed", INSTALL_HINT)
    logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)  # "register_constant() ... is deprecated"


def executorch_version() -> str:
    try:
        return importlib.metadata.version("executorch")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - checked before use
        return "unknown"


def lower_to_pte(program: Any, out_path: Path, what: str) -> dict[str, int]:
    """Lower a ``torch.export`` program to XNNPACK and write ``out_path``; returns the delegation counts
    (``delegated_nodes``, ``non_delegated_nodes``, ``delegated_subgraphs``)."""
    require()
    captured = Captured()
    try:
        with native_output_captured() as captured, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
                XnnpackPartitioner,
            )
            from executorch.exir import to_edge_transform_and_lower

            edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
            counts = delegation_counts(edge.exported_program().graph_module)
            Path(out_path).write_bytes(edge.to_executorch().buffer)
    except Exception as e:  # noqa: BLE001 - lowering and serialization raise anything
        Path(out_path).unlink(missing_ok=True)
        raise lowering_error(e, what, captured) from None
    return counts


def export_program(module: Any, args: tuple, what: str) -> Any:
    """``torch.export.export(module, args)``; a model it cannot capture is one :class:`ExportError` line."""
    import torch

    captured = Captured()
    try:  # captured: torch.export logs the whole graph on a data-dependent guard
        with native_output_captured() as captured, warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            return torch.export.export(module, args)
    except Exception as e:  # noqa: BLE001 - torch.export raises many kinds
        raise lowering_error(e, what, captured) from None


def delegation_counts(graph_module: Any) -> dict[str, int]:
    """How many operator nodes XNNPACK took, how many stayed on ExecuTorch's portable kernels."""
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(graph_module)
    return {"delegated_nodes": int(info.num_delegated_nodes), "non_delegated_nodes": int(info.num_non_delegated_nodes),
            "delegated_subgraphs": int(info.num_delegated_subgraphs)}


def lowering_error(e: BaseException, what: str, captured: Captured) -> ExportError:
    """One line: torch.export's root cause (with the user-code line), or the lowering's."""
    from dlcompress.toolkit.litert_convert import conversion_error

    err = conversion_error(e, what, captured)
    if "torch.export cannot capture" in err.message:
        return ExportError(err.message, TORCH_EXPORT_HINT)
    message = err.message.replace("litert-torch has no LiteRT lowering", "ExecuTorch has no lowering")
    return ExportError(message, "use the ONNX or OpenVINO format, or report the model to ExecuTorch")
