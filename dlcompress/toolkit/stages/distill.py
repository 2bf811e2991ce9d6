"""The distill stage: train a student to match a teacher (knowledge distillation, Hinton et al. 2015).

Loss per batch::

    alpha · CE(student, labels) + (1 - alpha) · T² · KL(softmax(teacher / T) || softmax(student / T))
    + feature_weight · Σ MSE(adapter(student feature), teacher feature)

The T² factor keeps the soft-target gradients on the same scale as the hard-label ones when T changes.
Feature pairs name a student layer and a teacher layer; their outputs are captured with forward hooks and a
1x1 convolution (or a linear layer for 2-d features) adapts the student's channels when they differ (the
adapter is trained with the student and dropped afterwards). After training, BatchNorm running statistics are
re-estimated on training images: after a short run they still lag behind the weights. Training runs through the shared
:func:`~dlcompress.toolkit.training.fit` loop with this loss, so ``dlcompress train``, fine-tuning and
distillation share one loop — including its data-parallel (DDP) mode.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from dlcompress.toolkit.artifact import Artifact, StageRecord
from dlcompress.toolkit.data import DataSplits, ImageTransform
from dlcompress.toolkit.errors import DLCompressError
from dlcompress.toolkit.stages.structure import example_inputs, torch_model
from dlcompress.toolkit.training import (
    BN_REESTIMATION_IMAGES,
    TrainOptions,
    evaluate_top1,
    fit,
    reestimate_batchnorm,
)

if TYPE_CHECKING:
    from dlcompress.toolkit.ddp import Parallel
    from dlcompress.toolkit.spec import ModelSpec


@dataclass(frozen=True)
class DistillOptions:
    """``temperature`` softens both distributions; ``alpha`` weighs the hard-label loss (0 = soft targets only);
    ``features`` pairs ``(student_layer, teacher_layer)`` for feature distillation, weighed by ``feature_weight``;
    ``eval_samples`` held-out images scored before and after (0 = the whole test split)."""

    temperature: float = 4.0
    alpha: float = 0.5
    features: tuple[tuple[str, str], ...] = ()
    feature_weight: float = 1.0
    eval_samples: int = 2000

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise DLCompressError(f"--temperature must be positive, got {self.temperature}")
        if not 0.0 <= self.alpha <= 1.0:
            raise DLCompressError(f"--alpha must be between 0 and 1, got {self.alpha}")
        if self.feature_weight < 0:
            raise DLCompressError(f"--feature-weight must be >= 0, got {self.feature_weight}")

    @staticmethod
    def parse_features(items: list[str] | None) -> tuple[tuple[str, str], ...]:
        """``["layer3:layer3", "layer4.1:layer4"]`` -> pairs (student layer, teacher layer)."""
        pairs = []
        for item in items or ():
            s, sep, t = item.partition(":")
            if not sep or not s or not t:
                raise DLCompressError(f"--feature {item!r} is not STUDENT_LAYER:TEACHER_LAYER", "e.g. --feature layer3:layer3")
            pairs.append((s.strip(), t.strip()))
        return tuple(pairs)

    def to_json(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "alpha": self.alpha, "features": [list(p) for p in self.features],
                "feature_weight": self.feature_weight}


# ---------------------------------------------------------------------------------------------------------
# feature taps and adapters


class _Tap:
    """A forward hook that keeps the last output of a module."""

    def __init__(self, module: nn.Module) -> None:
        self.value: torch.Tensor | None = None
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, mod: nn.Module, args: tuple, out: Any) -> None:
        self.value = out[0] if isinstance(out, (tuple, list)) else out

    def remove(self) -> None:
        self.handle.remove()


class StudentWithAdapters(nn.Module):
    """The student plus the adapters of feature distillation. ``forward`` returns the student's logits and
    leaves the adapted features in :attr:`features` (inside forward, so DDP sees every trained parameter)."""

    def __init__(self, student: nn.Module, layers: list[str], adapters: list[nn.Module]) -> None:
        super().__init__()
        self.student = student
        self.adapters = nn.ModuleList(adapters)
        self._taps = [_Tap(student.get_submodule(n)) for n in layers]
        self.features: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.student(x)
        self.features = [a(t.value) for a, t in zip(self.adapters, self._taps)]
        return logits

    def release(self) -> nn.Module:
        """Remove the hooks and return the bare student."""
        for t in self._taps:
            t.remove()
        self.features = []
        return self.student


def _adapter(student_shape: torch.Size, teacher_shape: torch.Size) -> nn.Module:
    if len(student_shape) != len(teacher_shape) or len(student_shape) not in (2, 4):
        raise DLCompressError(f"feature shapes {tuple(student_shape)} and {tuple(teacher_shape)} cannot be matched",
                              "pick layers with (N, C, H, W) or (N, C) outputs on both sides")
    cs, ct = student_shape[1], teacher_shape[1]
    if cs == ct:
        return nn.Identity()
    layer: nn.Module = nn.Conv2d(cs, ct, 1, bias=False) if len(student_shape) == 4 else nn.Linear(cs, ct, bias=False)
    return layer


def _match(fs: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
    if fs.dim() == 4 and fs.shape[2:] != ft.shape[2:]:
        fs = F.adaptive_avg_pool2d(fs, ft.shape[2:])
    return fs


# ---------------------------------------------------------------------------------------------------------
# inputs: the student's batches, re-made for the teacher when their preprocessing differs


def input_bridge(student: ModelSpec, teacher: ModelSpec) -> Callable[[torch.Tensor], torch.Tensor]:
    """Turn the student's normalised batch into the teacher's (undo the student's normalisation, match
    channels and size, apply the teacher's). Identity when both declare the same input."""
    if not (student.is_image_model and teacher.is_image_model):
        return lambda x: x
    same_norm = (student.preprocess.mean, student.preprocess.std) == (teacher.preprocess.mean, teacher.preprocess.std)
    if student.image_shape == teacher.image_shape and same_norm:
        return lambda x: x
    cs, *_ = student.image_shape
    ct, ht, wt = teacher.image_shape

    def norm(spec: ModelSpec, c: int) -> tuple[torch.Tensor, torch.Tensor]:
        if spec.preprocess.mean is None or spec.preprocess.std is None:
            return torch.zeros(1, c, 1, 1), torch.ones(1, c, 1, 1)
        return torch.tensor(spec.preprocess.mean).view(1, -1, 1, 1), torch.tensor(spec.preprocess.std).view(1, -1, 1, 1)

    ms, ss = norm(student, cs)
    mt, st = norm(teacher, ct)

    def bridge(x: torch.Tensor) -> torch.Tensor:
        raw = x * ss.to(x.device) + ms.to(x.device)
        if raw.shape[1] != ct:
            raw = raw.mean(1, keepdim=True).expand(-1, ct, -1, -1) if ct != 1 else raw.mean(1, keepdim=True)
        if tuple(raw.shape[2:]) != (ht, wt):
            raw = F.interpolate(raw, size=(ht, wt), mode="bilinear", align_corners=False)
        return (raw - mt.to(x.device)) / st.to(x.device)

    return bridge


class DistillationLoss:
    """``loss_fn(model, x, y)`` for :func:`fit`: hard CE + temperature-scaled KL (+ feature MSE)."""

    def __init__(self, teacher: nn.Module, options: DistillOptions, bridge: Callable[[torch.Tensor], torch.Tensor],
                 teacher_layers: list[str]) -> None:
        self.teacher = teacher.eval()
        self.options = options
        self.bridge = bridge
        self.taps = [_Tap(teacher.get_submodule(n)) for n in teacher_layers]

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        o = self.options
        with torch.no_grad():
            t_logits = self.teacher(self.bridge(x))
            t_feats = [t.value for t in self.taps]
        s_logits = model(x)
        t = o.temperature
        soft = F.kl_div(F.log_softmax(s_logits / t, 1), F.log_softmax(t_logits / t, 1), reduction="batchmean",
                        log_target=True) * (t * t)
        loss = o.alpha * F.cross_entropy(s_logits, y) + (1 - o.alpha) * soft
        if self.taps:
            inner = getattr(model, "module", model)
            for fs, ft in zip(inner.features, t_feats):
                loss = loss + o.feature_weight * F.mse_loss(_match(fs, ft), ft)  # type: ignore[arg-type]
        return loss

    def release(self) -> None:
        for t in self.taps:
            t.remove()


# ---------------------------------------------------------------------------------------------------------
# the stage


def distill(student: Artifact, teacher: Artifact, data: DataSplits, train: TrainOptions, options: DistillOptions,
            parallel: Parallel | None = None, device: str = "cpu") -> Artifact:
    """A copy of ``student`` trained against ``teacher`` on ``data``; top-1 before/after in the record.

    With ``parallel`` this runs as one rank of a DDP job (every rank calls it; the result is the same on all)
    on the rank's device; otherwise on ``device``. The returned model is on the CPU.
    """
    start = time.perf_counter()
    model = torch_model(student, "distill")
    if teacher.model is None:
        raise DLCompressError(f"the teacher must be a torch model; {teacher.spec.name} is {teacher.format}")
    teacher_model = copy.deepcopy(teacher.model).eval()
    for p in teacher_model.parameters():
        p.requires_grad_(False)
    if not data.labelled or data.train.labels is None:
        raise DLCompressError(f"distillation needs labelled data; {data.name} has none", "use --data fashion-mnist")
    spec = student.spec
    if not spec.is_image_model:
        raise DLCompressError(f"distillation supports image classifiers; {spec.name} takes {spec.signature()}")
    transform = ImageTransform.for_spec(spec)
    t_transform = ImageTransform.for_spec(teacher.spec)
    device = parallel.device if parallel is not None else device
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DLCompressError("--device cuda was asked for, but torch sees no CUDA device", "use --device cpu")
    model.to(device)
    teacher_model.to(device)
    test = data.test.head(options.eval_samples or None)
    top1_before = evaluate_top1(model, test, transform, parallel=parallel)
    teacher_top1 = evaluate_top1(teacher_model, test, t_transform, parallel=parallel)
    wrapper = _wrap_student(model, teacher_model, options, student, teacher)
    loss = DistillationLoss(teacher_model, options, input_bridge(spec, teacher.spec), [t for _, t in options.features])
    try:
        history = fit(wrapper, data.train, transform, train, test, loss, parallel)
    finally:
        loss.release()
    model = wrapper.release().eval()
    bn_layers = reestimate_batchnorm(model, data.train, transform)
    if parallel is not None:
        parallel.sync_buffers(model)
    top1_after = evaluate_top1(model, test, transform, parallel=parallel) if bn_layers else history.final_top1
    sync = parallel.params_in_sync(model) if parallel is not None else None
    model.to("cpu")
    effect: dict[str, Any] = {
        "teacher": teacher.spec.name, "teacher_top1": round(teacher_top1, 6),
        "student_top1_before": round(top1_before, 6), "student_top1_after": round(top1_after or 0.0, 6),
        "gap_to_teacher": round((top1_after or 0.0) - teacher_top1, 6),
        "eval_samples": len(test), "history": history.to_json(),
        "bn_reestimation": {"layers": bn_layers, "images": min(len(data.train), BN_REESTIMATION_IMAGES),
                            "top1_before": history.final_top1} if bn_layers else None,
    }
    if sync is not None:
        effect["data_parallel"] = {"backend": parallel.backend, **sync}  # type: ignore[union-attr]
    params = {**options.to_json(), "epochs": train.epochs, "batch_size": train.batch_size, "lr": train.lr,
              "optimizer": train.optimizer, "train_samples": train.train_samples, "seed": train.seed,
              "data": data.name, "processes": parallel.world_size if parallel is not None else 1}
    record = StageRecord("distill", params, effect, seconds=round(time.perf_counter() - start, 2))
    return student.derive(record, model=model)


def _wrap_student(model: nn.Module, teacher_model: nn.Module, options: DistillOptions, student: Artifact,
                  teacher: Artifact) -> StudentWithAdapters:
    """The student with one adapter per feature pair, sized by a forward pass on the declared inputs."""
    if not options.features:
        return StudentWithAdapters(model, [], [])
    s_layers = [s for s, _ in options.features]
    t_layers = [t for _, t in options.features]
    for names, net, who in ((s_layers, model, "student"), (t_layers, teacher_model, "teacher")):
        known = dict(net.named_modules())
        for n in names:
            if n not in known:
                import difflib

                close = difflib.get_close_matches(n, list(known), n=3)
                raise DLCompressError(f"the {who} has no layer {n!r}",
                                      ("did you mean " + " or ".join(repr(c) for c in close) + "?") if close else None)
    device = next(model.parameters()).device
    s_taps = [_Tap(model.get_submodule(n)) for n in s_layers]
    t_taps = [_Tap(teacher_model.get_submodule(n)) for n in t_layers]
    x = example_inputs(student, 2)[0].to(device)
    with torch.no_grad():
        model.eval()(x)
        teacher_model(input_bridge(student.spec, teacher.spec)(x))
    adapters = [_adapter(s.value.shape, t.value.shape).to(device) for s, t in zip(s_taps, t_taps)]  # type: ignore[union-attr]
    for tap in (*s_taps, *t_taps):
        tap.remove()
    return StudentWithAdapters(model, s_layers, adapters)
