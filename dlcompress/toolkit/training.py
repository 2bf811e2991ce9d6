"""A small, honest training loop: the seed of fine-tuning and distillation.

``fit`` takes a ``loss_fn(model, inputs, labels) -> loss`` so distillation can reuse it with another loss,
and an optional :class:`~dlcompress.toolkit.ddp.Parallel` for data-parallel training (DDP): each rank takes
its shard of the same seeded order with ``batch_size / world_size`` items per step, so the global batch and
the number of optimizer steps match a single-process run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from dlcompress.toolkit.data import ImageSource, ImageTransform
from dlcompress.toolkit.errors import DLCompressError
from dlcompress.toolkit.progress import progress_bar, step

if TYPE_CHECKING:
    from dlcompress.toolkit.ddp import Parallel

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TrainOptions:
    """Optimisation settings. ``train_samples`` limits the training split (None = all)."""

    epochs: int = 1
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    seed: int = 0
    train_samples: int | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise DLCompressError("--epochs and --batch-size must be at least 1 and --lr positive")
        if self.optimizer not in ("adamw", "sgd"):
            raise DLCompressError(f"--optimizer {self.optimizer!r} is not supported", "use adamw or sgd")


@dataclass
class EpochResult:
    epoch: int
    train_loss: float
    test_top1: float | None
    seconds: float


@dataclass
class History:
    epochs: list[EpochResult] = field(default_factory=list)

    @property
    def final_top1(self) -> float | None:
        return self.epochs[-1].test_top1 if self.epochs else None

    def to_json(self) -> list[dict[str, object]]:
        return [asdict(e) for e in self.epochs]


def cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(model(x), y)


def evaluate_top1(model: nn.Module, source: ImageSource, transform: ImageTransform, batch_size: int = 256,
                  parallel: Parallel | None = None) -> float:
    """Top-1 accuracy of a torch model on a labelled source (split across ranks when ``parallel``)."""
    model.eval()
    device = _device(model)
    positions = np.arange(len(source))
    if parallel is not None:
        positions = positions[parallel.rank::parallel.world_size]
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(positions), batch_size):
            idx = positions[i:i + batch_size]
            x = torch.from_numpy(transform(source.batch(idx))).to(device)
            correct += int((model(x).argmax(1).cpu().numpy() == source.labels[idx]).sum())
    if parallel is not None:
        total_correct, _ = parallel.all_sum([float(correct), float(len(positions))])
        return total_correct / max(1, len(source))
    return correct / max(1, len(source))


BN_REESTIMATION_IMAGES = 1024


def reestimate_batchnorm(model: nn.Module, source: ImageSource, transform: ImageTransform,
                         images: int = BN_REESTIMATION_IMAGES, batch_size: int = 128, seed: int = 0) -> int:
    """Re-estimate BatchNorm running statistics on ``images`` training images (cumulative average, no gradients);
    returns the number of BN layers. After pruning, a layer replacement or a short training run the running
    averages lag behind the weights, and a model that trains well scores near chance in eval mode."""
    from dlcompress.toolkit.batchnorm import recalibrate_batchnorm

    idx = np.random.default_rng(seed).permutation(len(source))[:images]
    device = _device(model)
    batches = (torch.from_numpy(transform(source.batch(idx[i:i + batch_size]))).to(device)
               for i in range(0, len(idx), batch_size))
    return recalibrate_batchnorm(model, batches)  # type: ignore[arg-type]


def _device(model: nn.Module) -> torch.device:
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def fit(
    model: nn.Module, train: ImageSource, transform: ImageTransform, options: TrainOptions,
    test: ImageSource | None = None, loss_fn: LossFn = cross_entropy, parallel: Parallel | None = None,
) -> History:
    """Train ``model`` in place for ``options.epochs`` epochs; evaluate on ``test`` after each.

    With ``parallel``, ``loss_fn`` gets the DDP-wrapped model (call it, don't inspect it: the module is
    ``model.module``), and ``model`` itself ends identical on every rank."""
    if train.labels is None:
        raise DLCompressError("training needs labelled data", "use --data fashion-mnist, digits or an ImageFolder")
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    if options.optimizer == "adamw":
        opt: torch.optim.Optimizer = torch.optim.AdamW(params, lr=options.lr, weight_decay=options.weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=options.lr, momentum=0.9, weight_decay=options.weight_decay, nesterov=True)
    n = len(train) if options.train_samples is None else min(options.train_samples, len(train))
    world = parallel.world_size if parallel is not None else 1
    batch_size = -(-options.batch_size // world)
    per_rank = -(-n // world)
    steps_per_epoch = -(-per_rank // batch_size)
    net = parallel.wrap(model) if parallel is not None else model
    device = _device(model)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=options.lr, total_steps=steps_per_epoch * options.epochs)
    history = History()
    for epoch in range(1, options.epochs + 1):
        model.train()
        order = rng.permutation(len(train))[:n]
        if parallel is not None:
            order = parallel.shard(order)
        start, losses = time.perf_counter(), []
        with progress_bar(f"epoch {epoch}/{options.epochs}", total=len(order)) as bar:
            for i in range(0, len(order), batch_size):
                idx = order[i:i + batch_size]
                x = torch.from_numpy(transform(train.batch(idx))).to(device)
                y = torch.from_numpy(train.labels[idx]).to(device)
                loss = loss_fn(net, x, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
                bar.advance(len(idx))
        if parallel is not None:
            parallel.sync_buffers(model)
        top1 = (evaluate_top1(model, test, transform, parallel=parallel)
                if test is not None and test.labels is not None else None)
        result = EpochResult(epoch, float(np.mean(losses)), top1, round(time.perf_counter() - start, 2))
        history.epochs.append(result)
        step(f"epoch {epoch}: train loss {result.train_loss:.4f}" + (f", test top-1 {top1:.4f}" if top1 is not None else "")
             + f" ({result.seconds:.1f} s)")
    model.eval()
    return history
