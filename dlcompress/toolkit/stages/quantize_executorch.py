"""ExecuTorch quantization: a ``.pte`` in, a ``.pte`` out; the work happens on the torch graph it came from.

PT2E with ExecuTorch's ``XNNPACKQuantizer``: ``torch.export`` the source model, annotate it (int8 symmetric
weights, per-channel by default; int8 activations), calibrate with torchao's ``prepare_pt2e`` on the real
calibration feeds, ``convert_pt2e``, export the Q/DQ graph at batch 1 and lower it to XNNPACK, which fuses
the Q/DQ patterns into its int8 kernels.

- ``static``: int8 activations with calibrated per-tensor scales.
- ``dynamic``: int8 weights, activations quantized per run (XNNPACK's dynamic config: Linear layers only;
  convolutions stay float).

The lineage records how many operator nodes the XNNPACK delegate took and how many stayed on portable kernels.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from dlcompress.toolkit.artifact import Artifact, Format
from dlcompress.toolkit.calibration import Calibration
from dlcompress.toolkit.errors import QuantizationError, UnsupportedError
from dlcompress.toolkit.executorch_lower import (
    EXPORT_BATCH,
    executorch_version,
    export_program,
    lower_to_pte,
    lowering_error,
    require,
)
from dlcompress.toolkit.native_output import Captured
from dlcompress.toolkit.progress import silenced
from dlcompress.toolkit.stages.quantize import (
    OPTION_CHECKS,
    QUANTIZERS,
    QuantizeOptions,
    quantized_file,
    reject_onnxruntime_flags,
)

METHODS = ("static", "dynamic")


def check(options: QuantizeOptions) -> None:
    """Reject options the XNNPACK quantizer cannot honour instead of silently ignoring them."""
    if options.method not in METHODS:
        raise UnsupportedError(f"--method {options.method} is not available for ExecuTorch", f"use one of: {', '.join(METHODS)}")
    reject_onnxruntime_flags(options, "ExecuTorch", "drop it; XNNPACK int8 kernels use int8 symmetric weights")
    if options.calibration != "minmax":
        raise UnsupportedError(f"--calibration {options.calibration} is not available for ExecuTorch", "use minmax")


def _export_for_calibration(model: Any, spec: Any) -> tuple[Any, bool]:
    """``torch.export`` with a dynamic batch (calibration batches of any size run); batch 1 where that fails."""
    import torch

    from dlcompress.toolkit.litert_convert import sample_args

    args = sample_args(spec, batch=2)
    try:
        dims = tuple({0: torch.export.Dim("batch", min=1, max=4096)} for _ in args)
        return torch.export.export(model, args, dynamic_shapes=dims).module(), True
    except Exception:  # noqa: BLE001 - fall back to a static batch; calibration then runs one sample at a time
        return torch.export.export(model, sample_args(spec, batch=1)).module(), False


def quantize_xnnpack(source: Artifact, feeds: list[dict[str, np.ndarray]], out_path: Path, *, dynamic: bool,
                     per_channel: bool = True) -> dict[str, Any]:
    """PT2E-quantize the torch ``source`` with the XNNPACK quantizer and lower it to ``out_path``."""
    require()
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from dlcompress.toolkit.litert_convert import sample_args
    from dlcompress.toolkit.stages.quantize_litert import calibrate

    spec = source.spec
    what = f"ExecuTorch int8 quantization of {spec.name}"
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=per_channel,
                                                                                is_dynamic=dynamic))
    try:
        graph, dynamic_batch = _export_for_calibration(source.model.eval(), spec)  # type: ignore[union-attr]
    except Exception as e:  # noqa: BLE001 - torch.export raises many kinds
        err = lowering_error(e, what, Captured())
        raise QuantizationError(err.message, err.hint) from None
    with silenced(ignore_warnings=True):
        prepared = prepare_pt2e(graph, quantizer)
    n = calibrate(prepared, spec, feeds or [spec.example_inputs(1)], dynamic_batch)
    with silenced(ignore_warnings=True):
        converted = convert_pt2e(prepared)
    program = export_program(converted, sample_args(spec, EXPORT_BATCH), what)
    counts = lower_to_pte(program, out_path, what)
    return {"calibration_samples": n if feeds else 0, "calibration_batch": "dynamic" if dynamic_batch else 1, **counts}


def quantize_executorch(artifact: Artifact, options: QuantizeOptions, calibration: Calibration | None,
                        out_path: Path) -> Artifact:
    """Quantize an ExecuTorch artifact (through the torch model it was exported from)."""
    check(options)
    source = artifact.source
    if source is None or source.format is not Format.TORCH:
        raise UnsupportedError(f"{artifact.path} has no torch source to quantize: ExecuTorch quantization runs PT2E on "
                               "the torch graph", "quantize from a torch model (zoo name, checkpoint or factory), not a .pte file")
    start = time.perf_counter()
    out_path = Path(out_path)
    dynamic = options.method == "dynamic"
    params: dict[str, Any] = {"backend": "executorch", "executorch": executorch_version(), "method": options.method,
                              "batch": EXPORT_BATCH, "delegate": "XNNPACK",
                              "quantizer": "XNNPACKQuantizer (symmetric)",
                              "weights": f"int8 symmetric {'per-channel' if options.per_channel else 'per-tensor'}",
                              "activations": "int8 computed per run (dynamic)" if dynamic else "int8 per-tensor (static)"}
    feeds = list(calibration or []) if not dynamic else []
    params.update(quantize_xnnpack(source, feeds, out_path, dynamic=dynamic, per_channel=options.per_channel))
    if not dynamic:
        params["calibration"] = "minmax"
    return quantized_file(artifact, out_path, params, options.precision, start)


QUANTIZERS.add("executorch", quantize_executorch)
OPTION_CHECKS["executorch"] = check
