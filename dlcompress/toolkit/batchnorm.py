"""BatchNorm statistics re-estimated from real batches (random-init or pruned models)."""

from __future__ import annotations

import torch
from torch import nn


def recalibrate_batchnorm(model: nn.Module, batches: list[torch.Tensor | tuple[torch.Tensor, ...]]) -> int:
    """Re-estimate BatchNorm running statistics on real inputs (cumulative average); returns #BN layers.

    A randomly initialised CNN has BN statistics (0, 1) that do not match its activations, which makes its
    outputs collapse towards zero. Re-estimating them on real images gives realistic activation ranges, so
    quantization and fidelity numbers mean something even without trained weights.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns or not batches:
        return 0
    saved = {m: (m.momentum, m.training) for m in bns}
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.train()  # only BN: the rest stays in eval (dropout off; detectors need targets in train mode)
    with torch.no_grad():
        for x in batches:
            model(*(x if isinstance(x, tuple) else (x,)))
    for m, (mom, training) in saved.items():
        m.momentum = mom
        m.train(training)
    return len(bns)
