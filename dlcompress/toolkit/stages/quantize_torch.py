"""PyTorch int8: PT2E (torchao) with the X86 Inductor quantizer, lowered by ``torch.compile`` with freezing.

Without compilation a PT2E-converted model runs its quantize/dequantize ops in fp32 and is slower than the
original; Inductor with freezing fuses them into oneDNN int8 kernels. ``torch.compile(options={"freezing":
True})`` silently does not freeze in torch 2.14.1, so the global inductor flag is set during compilation
(measured while planning; ../shared/notes/perf-anchors.md).
"""

from __future__ import annotations

import contextlib
import copy
import time
from pathlib import Path
from typing import Any

import torch

from dlcompress.toolkit.artifact import Artifact, StageRecord
from dlcompress.toolkit.calibration import Calibration
from dlcompress.toolkit.devices import cpu_info
from dlcompress.toolkit.errors import (
    QuantizationError,
    UnsupportedError,
    describe_failure,
)
from dlcompress.toolkit.progress import silenced
from dlcompress.toolkit.stages.quantize import QUANTIZERS, QuantizeOptions

TORCH_NOISE = ("torch.utils._pytree", "torch.utils.cpp_extension", "torch._inductor", "torch._dynamo", "torch.export")


@contextlib.contextmanager
def _freezing():
    import torch._inductor.config as inductor_config

    old = inductor_config.freezing
    inductor_config.freezing = True
    try:
        yield
    finally:
        inductor_config.freezing = old


def quantize_torch(artifact: Artifact, options: QuantizeOptions, calibration: Calibration | None, out_path: Path) -> Artifact:
    """Static int8 of a torch artifact; the result is a compiled module (``out_path`` is not written)."""
    if options.method != "static":
        raise UnsupportedError(f"torch {options.method} quantization is not supported", "use --method static for torch")
    if not cpu_info().is_x86:
        raise UnsupportedError("torch int8 uses the X86 Inductor quantizer, which needs an x86 CPU")
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

    start = time.perf_counter()
    spec = artifact.spec
    model = copy.deepcopy(artifact.model).eval()  # type: ignore[arg-type]
    feeds = list(calibration or [])
    example = tuple(torch.from_numpy(v) for v in spec.example_inputs(2).values())
    dims = tuple({0: torch.export.Dim("batch", min=1, max=4096)} if "batch" in t.shape[:1] else None for t in spec.inputs)
    try:
        # torch logs deprecation notes and "No CUDA runtime is found" while exporting and compiling: not the user's
        with torch.no_grad(), silenced(*TORCH_NOISE, ignore_warnings=True):
            exported = torch.export.export(model, example, dynamic_shapes=dims, strict=True).module()
            quantizer = xiq.X86InductorQuantizer()
            quantizer.set_global(xiq.get_default_x86_inductor_quantization_config())  # per-channel weights
            prepared = prepare_pt2e(exported, quantizer)
            for feed in feeds:
                prepared(*(torch.from_numpy(feed[t.name]) for t in spec.inputs))
            converted = convert_pt2e(prepared)
            before = _lowering_counts()
            with _freezing():
                compiled = torch.compile(converted, dynamic=True)
                compiled(*(torch.from_numpy(v) for v in (feeds[0] if feeds else spec.example_inputs(1)).values()))
            lowered = {k: v - before[k] for k, v in _lowering_counts().items()}
    except Exception as e:  # noqa: BLE001 - export/compile raise many kinds
        raise QuantizationError(f"torch PT2E int8 failed for {spec.name}: {describe_failure(e)}") from None
    record = StageRecord("quantize", {"backend": "torch", "method": "static", "quantizer": "X86InductorQuantizer (PT2E)",
                                      "per_channel": True, "lowering": "torch.compile (inductor, freezing)",
                                      "calibration_samples": sum(len(next(iter(f.values()))) for f in feeds)},
                         {"int8_kernels": int8_kernels(artifact.model, lowered)},
                         seconds=round(time.perf_counter() - start, 2))
    return artifact.derive(record, model=_Frozen(compiled), precision="int8")


LOWERING_COUNTERS = {"conv": "qconv_weight_prepack_matcher_count", "linear": "qlinear_weight_prepack_matcher_count"}


def _lowering_counts() -> dict[str, int]:
    """Inductor's pattern-matcher counters for int8 weight prepacking (one per conv/linear lowered to oneDNN)."""
    from torch._dynamo.utils import counters

    return {kind: int(counters["inductor"][name]) for kind, name in LOWERING_COUNTERS.items()}


def int8_kernels(model: Any, lowered: dict[str, int]) -> dict[str, dict[str, int]]:
    """How many of the model's convs and linears Inductor lowered to oneDNN int8 kernels: the evidence behind
    a torch int8 variant's speed (the rest run in fp32 between quantize/dequantize pairs)."""
    total = {"conv": sum(isinstance(m, torch.nn.modules.conv._ConvNd) for m in model.modules()),
             "linear": sum(isinstance(m, torch.nn.Linear) for m in model.modules())}
    return {kind: {"int8": lowered.get(kind, 0), "total": total[kind]} for kind in total if total[kind]}


class _Frozen(torch.nn.Module):
    """Holds a compiled callable so the torch runtime can treat it like a module (no parameters exposed).

    The callable is kept out of the module tree: an exported graph refuses ``.eval()``/``.train()``, which the
    runtime calls on every module it is given; a frozen int8 graph is inference-only anyway."""

    def __init__(self, fn) -> None:  # noqa: ANN001
        super().__init__()
        object.__setattr__(self, "_fn", fn)

    def train(self, mode: bool = True) -> _Frozen:  # noqa: ARG002 - always inference
        return self

    def forward(self, *args: torch.Tensor):  # noqa: ANN201
        return self._fn(*args)


QUANTIZERS.add("torch", quantize_torch)
