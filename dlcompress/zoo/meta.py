"""Meta-learning: the 4-conv few-shot learner of MAML, and MAML's adaptation as a utility.

:func:`maml_adapt` runs the inner loop with ``torch.func.functional_call`` on a dict of "fast" weights, so
the model's own parameters stay untouched and the outer (meta) gradient flows back to them: through the
inner gradients (second order) or around them (first order, ``first_order=True``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from dlcompress.toolkit.spec import ModelCard, ModelSpec, Tolerance, image_classifier_io
from dlcompress.zoo.registry import register

TASK = "few-shot-classification"
Params = dict[str, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class ConvNet4(nn.Module):
    """Four ``conv3x3-BN-ReLU-maxpool2`` blocks and a linear ``n_way`` head (Vinyals et al.; MAML's model:
    64 filters on 28x28 Omniglot, 32 on 84x84 miniImageNet)."""

    def __init__(self, num_classes: int = 5, in_chans: int = 3, image_size: int = 84, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c, size = in_chans, image_size
        for _ in range(4):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c, size = width, size // 2
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.classifier = nn.Linear(width * size * size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@dataclass(frozen=True)
class MAMLOptions:
    """Inner loop: ``steps`` gradient steps of size ``inner_lr``; ``first_order`` drops second derivatives."""

    steps: int = 1
    inner_lr: float = 0.4
    first_order: bool = False


def maml_adapt(model: nn.Module, support_x: torch.Tensor, support_y: torch.Tensor,
               options: MAMLOptions = MAMLOptions(), loss_fn: LossFn = nn.functional.cross_entropy,
               params: Params | None = None) -> Params:
    """Task-adapted weights: ``options.steps`` gradient steps on the support set, from ``params`` (default: the
    model's own). The result keeps the autograd graph to the starting weights, so a query loss computed with
    :func:`functional_forward` back-propagates into the meta-parameters (Finn et al., 2017)."""
    fast = dict(params if params is not None else model.named_parameters())
    for _ in range(options.steps):
        loss = loss_fn(functional_forward(model, fast, support_x), support_y)
        grads = torch.autograd.grad(loss, list(fast.values()), create_graph=not options.first_order,
                                    allow_unused=True)
        fast = {name: w if g is None else w - options.inner_lr * (g.detach() if options.first_order else g)
                for (name, w), g in zip(fast.items(), grads)}
    return fast


def functional_forward(model: nn.Module, params: Params, x: torch.Tensor) -> torch.Tensor:
    """``model(x)`` with ``params`` in place of its parameters (buffers such as BN statistics are its own)."""
    return torch.func.functional_call(model, params, (x,))


@dataclass(frozen=True)
class Task:
    """One few-shot episode: a labelled support set to adapt on and a query set to evaluate on."""

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor


def maml_meta_loss(model: nn.Module, tasks: Sequence[Task], options: MAMLOptions = MAMLOptions(),
                   loss_fn: LossFn = nn.functional.cross_entropy) -> torch.Tensor:
    """MAML's outer objective: the mean query loss of each task after adapting on its support set."""
    losses = [loss_fn(functional_forward(model, maml_adapt(model, t.support_x, t.support_y, options, loss_fn), t.query_x),
                      t.query_y) for t in tasks]
    return torch.stack(losses).mean()


# ---------------------------------------------------------------------------------------------------------
# registration

MAML_PAPER = ("Finn et al., Model-Agnostic Meta-Learning for Fast Adaptation of Deep Networks, 2017 (arXiv:1703.03400); "
              "4-conv learner: Vinyals et al., Matching Networks, 2016")
for _tiny, _chans, _size, _width in ((False, 3, 84, 32), (True, 1, 28, 8)):
    _ins, _outs = image_classifier_io(_chans, _size, 5)
    register(ModelSpec(
        name="maml_convnet4_tiny" if _tiny else "maml_convnet4", task=TASK, builder=ConvNet4, inputs=_ins,
        outputs=_outs, build_args={"num_classes": 5, "in_chans": _chans, "image_size": _size, "width": _width},
        tolerance=Tolerance(atol=1e-4),
        card=ModelCard(
            family="maml", paper=MAML_PAPER, default_data="digits" if _tiny else "photos", num_classes=5,
            tiny_of="maml_convnet4" if _tiny else None,
        ),
    ))
