"""Parameter and MAC counts computed from the real model (never hand-typed)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import torch
from torch import nn


def count_params(model: nn.Module) -> int:
    """Number of parameters (shared tensors counted once)."""
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def count_macs(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> int:
    """Multiply-accumulates of one forward pass, from ``torch.utils.flop_counter`` (FLOPs / 2).

    Counts every matmul-like aten op (conv, linear, bmm, attention), so transformer attention is included.
    """
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(*inputs)
    return int(counter.get_total_flops() // 2)


@lru_cache(maxsize=256)
def _meta_complexity(key: str, build: Callable[[], nn.Module], make_inputs: Callable[[], Any]) -> tuple[int, int]:
    try:
        with torch.device("meta"):
            model = build().eval()
            inputs = make_inputs()
        return count_params(model), count_macs(model, inputs)
    except NotImplementedError:
        # data-dependent ops (nonzero, NMS: detectors) have no meta kernel; count on a real forward instead
        model = build().eval()
        return count_params(model), count_macs(model, make_inputs())


def spec_complexity(spec: Any) -> tuple[int, int]:
    """(params, MACs at batch 1) of a zoo spec, computed on the meta device (no memory, no weights)."""
    def make_inputs() -> tuple[torch.Tensor, ...]:
        return tuple(torch.from_numpy(v) if torch.get_default_device().type != "meta"
                     else torch.empty(v.shape, dtype=torch.from_numpy(v.reshape(-1)[:1]).dtype)
                     for v in spec.example_inputs(1).values())

    return _meta_complexity(f"{spec.name}:{sorted(spec.build_args.items())!r}:{spec.signature()}", spec.build, make_inputs)
