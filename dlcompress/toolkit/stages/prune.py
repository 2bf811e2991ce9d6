"""The prune stage: structured channel pruning on Torch-Pruning's dependency graph, or unstructured sparsity.

Structured pruning removes whole channels together with everything coupled to them (the BN after a conv,
the next conv's input channels, the other branch of a residual add), so the model really gets smaller and
can get faster. The importance criterion (:data:`IMPORTANCES`), global or uniform allocation, an ignored
:class:`~dlcompress.toolkit.scope.Scope` and iterative steps (with an optional fine-tune callback between
them) are options. The amount is either a channel ratio (``ratio``) or a MAC budget (``target_macs``, a
fraction of the original MACs: pruning steps continue until the model fits).

The pruned architecture is recorded as Torch-Pruning's pruning history (module name, out/in channels,
indices) — a JSON plan that :func:`replay_plan` re-applies to a freshly built model of the same architecture.

Unstructured magnitude sparsity zeroes individual weights. The tensors stay dense, so dense runtimes do not
get faster; the stage says so in its record rather than pretend otherwise.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from dlcompress.toolkit.artifact import Artifact, StageRecord
from dlcompress.toolkit.complexity import count_macs, count_params
from dlcompress.toolkit.errors import DLCompressError, UnsupportedError
from dlcompress.toolkit.progress import silenced
from dlcompress.toolkit.registry import Registry
from dlcompress.toolkit.scope import Scope
from dlcompress.toolkit.stages.structure import (
    STRUCTURE_EDITS,
    STRUCTURE_FORMAT,
    compare_layers,
    example_inputs,
    head_name,
    layer_table,
    torch_model,
)

METHODS = ("structured", "unstructured")
TARGET_MACS_GRANULARITY = 100  # channel-ratio increments of one pruning step when aiming at a MAC budget

FineTune = Callable[[nn.Module, int, int], dict[str, Any] | None]
"""``finetune(model, step, total_steps)`` trains the model in place after a pruning step; may return metrics."""
Batches = Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]
"""Labelled batches for gradient-based importance (Taylor)."""
Recalibrate = Callable[[nn.Module], dict[str, Any]]
"""``recalibrate(model)`` re-estimates data statistics (BatchNorm) in place after a step; returns what it did."""


def _magnitude() -> Any:
    import torch_pruning as tp

    return tp.importance.GroupMagnitudeImportance(p=2)


def _bn_scale() -> Any:
    import torch_pruning as tp

    return tp.importance.BNScaleImportance()


def _taylor() -> Any:
    import torch_pruning as tp

    return tp.importance.GroupTaylorImportance()


@dataclass(frozen=True)
class Importance:
    """A channel-importance criterion: how to build it, and whether it needs gradients from labelled data."""

    build: Callable[[], Any]
    needs_gradients: bool = False
    description: str = ""


IMPORTANCES: Registry[Importance] = Registry("importance criterion")
IMPORTANCES.add("magnitude", Importance(_magnitude, description="L2 norm of each channel's weights (coupled layers summed)"))
IMPORTANCES.add("bn_scale", Importance(_bn_scale, description="|gamma| of the BatchNorm after each channel"))
IMPORTANCES.add("taylor", Importance(_taylor, True, "first-order Taylor estimate |w * dL/dw| on labelled batches"))


@dataclass(frozen=True)
class PruneOptions:
    """How much to prune and how.

    ``ratio``: fraction of channels (structured) or of weights (unstructured) to remove.
    ``target_macs``: structured only — prune until MACs <= this fraction of the original.
    ``global_pruning``: rank channels across layers (uneven layer widths) instead of the same ratio per layer.
    ``steps``: pruning steps; ``finetune`` (if given to :func:`prune`) runs after each one.
    ``max_layer_ratio``: no layer loses more than this fraction of its channels.
    """

    method: str = "structured"
    ratio: float | None = None
    target_macs: float | None = None
    importance: str = "magnitude"
    global_pruning: bool = False
    steps: int = 1
    ignore: Scope = field(default_factory=Scope)
    max_layer_ratio: float = 0.9
    round_to: int | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise UnsupportedError(f"pruning method {self.method!r} is not supported", f"use one of: {', '.join(METHODS)}")
        if (self.ratio is None) == (self.target_macs is None):
            raise DLCompressError("give exactly one of --ratio and --target-macs",
                                  "--ratio 0.5 removes half the channels; --target-macs 0.5 keeps at most half the MACs")
        for value, what in ((self.ratio, "--ratio"), (self.target_macs, "--target-macs")):
            if value is not None and not 0.0 < value < 1.0:
                raise DLCompressError(f"{what} must be between 0 and 1 (exclusive), got {value}")
        if self.target_macs is not None and self.method != "structured":
            raise UnsupportedError("--target-macs needs structured pruning",
                                   "unstructured sparsity leaves dense MACs unchanged; use --ratio for the sparsity")
        IMPORTANCES.get(self.importance)
        if self.steps < 1:
            raise DLCompressError(f"--steps must be at least 1, got {self.steps}")
        if not 0.0 < self.max_layer_ratio < 1.0:
            raise DLCompressError(f"--max-layer-ratio must be between 0 and 1, got {self.max_layer_ratio}")

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "ratio": self.ratio, "target_macs": self.target_macs,
                "importance": self.importance, "global_pruning": self.global_pruning, "steps": self.steps,
                "ignore": self.ignore.strings(), "max_layer_ratio": self.max_layer_ratio, "round_to": self.round_to}


def prune(artifact: Artifact, options: PruneOptions, finetune: FineTune | None = None,
          batches: Batches | None = None, recalibrate: Recalibrate | None = None) -> Artifact:
    """A pruned copy of a torch artifact, with a lineage record of what was removed and what it changed.

    After each pruning step ``recalibrate`` (if given) re-estimates BatchNorm statistics, then ``finetune``
    (if given) trains; ``batches`` feed gradient-based importance."""
    start = time.perf_counter()
    model = torch_model(artifact, "prune")
    inputs = example_inputs(artifact)
    ignored = ignored_layers(model, options.ignore, inputs)
    if IMPORTANCES.get(options.importance).needs_gradients and batches is None and options.method == "structured":
        raise DLCompressError(f"--importance {options.importance} needs labelled data for gradients",
                              "pass --data with labels (e.g. fashion-mnist), or use magnitude / bn_scale")
    before = layer_table(model, inputs)
    params0, macs0 = count_params(model), count_macs(model, inputs)
    run = _structured if options.method == "structured" else _unstructured
    effect, steps = run(model, inputs, options, ignored, _Hooks(finetune, batches, recalibrate), macs0)
    model.eval()
    after = layer_table(model, inputs)
    params1, macs1 = count_params(model), count_macs(model, inputs)
    effect = {
        "params_before": params0, "params_after": params1, "params_ratio": round(params1 / params0, 4),
        "macs_before": macs0, "macs_after": macs1, "macs_ratio": round(macs1 / macs0, 4),
        **effect, "steps": steps, "layers": compare_layers(before, after),
    }
    params = {**options.to_json(), "ignored_layers": sorted(ignored)}
    record = StageRecord("prune", params, effect, seconds=round(time.perf_counter() - start, 2))
    return artifact.derive(record, model=model)


def ignored_layers(model: nn.Module, scope: Scope, inputs: tuple[torch.Tensor, ...]) -> dict[str, nn.Module]:
    """Layers left alone: the scope's modules (with their children) plus the classifier head, always."""
    scope.validate(model)
    out: dict[str, nn.Module] = {}
    for name, module in scope.select(model):
        for sub, m in module.named_modules(prefix=name):
            if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)) or sub == name:
                out[sub] = m
    head = head_name(model, inputs)
    if head is not None:
        out[head] = model.get_submodule(head)
    return out


@dataclass(frozen=True)
class _Hooks:
    finetune: FineTune | None
    batches: Batches | None
    recalibrate: Recalibrate | None

    def after_step(self, model: nn.Module, step: int, total: int, info: dict[str, Any]) -> None:
        """Re-estimate statistics, then fine-tune; what they report goes into the step's record."""
        if self.recalibrate is not None:
            info["recalibration"] = self.recalibrate(model)
        if self.finetune is not None:
            metrics = self.finetune(model, step, total)
            if metrics:
                info["finetune"] = metrics
        model.eval()


# ---------------------------------------------------------------------------------------------------------
# structured


def _structured(model: nn.Module, inputs: tuple[torch.Tensor, ...], options: PruneOptions,
                ignored: dict[str, nn.Module], hooks: _Hooks, macs0: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    import torch_pruning as tp

    importance = IMPORTANCES.get(options.importance)
    by_macs = options.target_macs is not None
    with silenced(ignore_warnings=True):
        pruner = tp.pruner.MetaPruner(
            model, inputs[0] if len(inputs) == 1 else inputs, importance.build(),
            global_pruning=options.global_pruning,
            pruning_ratio=options.max_layer_ratio if by_macs else options.ratio,
            max_pruning_ratio=options.max_layer_ratio,
            iterative_steps=TARGET_MACS_GRANULARITY if by_macs else options.steps,
            ignored_layers=list(ignored.values()), round_to=options.round_to,
        )
    steps: list[dict[str, Any]] = []
    macs = macs0
    for r in range(1, options.steps + 1):
        if by_macs:
            goal = macs0 * options.target_macs ** (r / options.steps)  # type: ignore[operator]
            macs = _advance_to(goal, pruner, model, inputs, macs, macs0, hooks.batches if importance.needs_gradients else None)
        else:
            _one_step(pruner, model, hooks.batches if importance.needs_gradients else None)
            macs = count_macs(model, inputs)
        info: dict[str, Any] = {"step": r, "params": count_params(model), "macs": macs,
                                "macs_ratio": round(macs / macs0, 4)}
        hooks.after_step(model, r, options.steps, info)
        steps.append(info)
    history = [[str(n), bool(out), [int(i) for i in idx]] for n, out, idx in pruner.pruning_history()]
    effect: dict[str, Any] = {
        "structure": {"kind": "prune", "format": STRUCTURE_FORMAT, "history": history},
    }
    if by_macs:
        effect["target_reached"] = macs <= macs0 * options.target_macs + 0.5  # type: ignore[operator]
    return effect, steps


def _advance_to(goal: float, pruner: Any, model: nn.Module, inputs: tuple[torch.Tensor, ...], macs: int, macs0: int,
                batches: Batches | None) -> int:
    """Prune until MACs <= ``goal``. Each pruning step costs about a second on ResNet-18, so instead of walking
    the fine ratio schedule one step at a time, jump to just below the ratio a power law ``MACs ~ (1-r)^a``
    (``a`` fitted to the last measurement, ~2 for uniform channel pruning) predicts, then walk."""
    schedule = pruner.per_step_pruning_ratio
    delta = schedule[1] - schedule[0]
    while macs > goal and pruner.current_step < pruner.iterative_steps:
        frac, now = macs / macs0, schedule[pruner.current_step]
        a = math.log(frac) / math.log(1 - now) if 0 < now < 1 and 0 < frac < 1 else 2.0
        a = min(3.0, max(1.0, a))
        wanted = 1 - (goal / macs0) ** (1 / a)
        k = max(pruner.current_step + 1, min(int(wanted / delta) - 1, pruner.iterative_steps))
        pruner.current_step = k - 1  # step() increments it: prune to the ratio of schedule step k
        _one_step(pruner, model, batches)
        macs = count_macs(model, inputs)
    return macs


def _one_step(pruner: Any, model: nn.Module, batches: Batches | None) -> None:
    model.eval()
    if batches is not None:
        model.zero_grad(set_to_none=True)
        for x, y in batches():
            nn.functional.cross_entropy(model(x), y).backward()
    with silenced(ignore_warnings=True):
        for group in pruner.step(interactive=True):
            _prune_within_cap(pruner, group)
    for p in model.parameters():
        p.grad = None


def _prune_within_cap(pruner: Any, group: Any) -> None:
    """Prune ``group``, but never take a layer below ``1 - max_pruning_ratio`` of its initial channels.

    torch-pruning checks its ``max_pruning_ratio`` only before ranking; under global ranking one step can still
    take a layer past it (seen: ``--global --ratio 0.3 --max-layer-ratio 0.35`` removed 47% of a small CNN's
    last conv). Where the proposal goes too far, the least important of the proposed channels are pruned.
    """
    graph, idxs = pruner.DG, list(group[0][1])
    allowed = len(idxs)
    for dep, _ in group:
        module, fn = dep.target.module, dep.handler
        if graph.is_out_channel_pruning_fn(fn):
            now, init = graph.get_out_channels(module), pruner.layer_init_out_ch.get(module)
        elif graph.is_in_channel_pruning_fn(fn):
            now, init = graph.get_in_channels(module), pruner.layer_init_in_ch.get(module)
        else:
            continue
        if now is None or init is None:
            continue
        floor = math.ceil(init * (1 - pruner.max_pruning_ratio) - 1e-9)
        if pruner.round_to:
            floor = -(-floor // pruner.round_to) * pruner.round_to
        allowed = min(allowed, max(0, now - floor))
    if allowed >= len(idxs):
        group.prune()
        return
    if allowed == 0:
        return
    root = group[0][0]
    module, fn = root.target.module, root.handler
    channels = (graph.get_out_channels if graph.is_out_channel_pruning_fn(fn) else graph.get_in_channels)(module)
    importance = pruner.estimate_importance(graph.get_pruning_group(module, fn, list(range(channels))))
    if importance is not None and len(importance) == channels:
        idxs.sort(key=lambda i: float(importance[i]))  # least important first
    # a new group, not ``group.prune(idxs=...)``: that also records the original proposal in the pruning history
    graph.get_pruning_group(module, fn, sorted(idxs[:allowed])).prune()


def replay_plan(model: nn.Module, plan: dict[str, Any], inputs: tuple[torch.Tensor, ...]) -> nn.Module:
    """Re-apply a recorded pruning plan (``effect["structure"]`` of a prune record) to a fresh model."""
    import torch_pruning as tp

    if plan.get("kind") != "prune" or not isinstance(plan.get("history"), list):
        raise DLCompressError("not a pruning plan (expected kind 'prune' with a 'history' list)")
    model.eval()
    with silenced(ignore_warnings=True):
        graph = tp.DependencyGraph().build_dependency(model, example_inputs=inputs[0] if len(inputs) == 1 else inputs)
        graph.load_pruning_history([[str(n), bool(o), [int(i) for i in idx]] for n, o, idx in plan["history"]])
    return model


STRUCTURE_EDITS.add("prune", replay_plan)


# ---------------------------------------------------------------------------------------------------------
# unstructured

SPARSITY_NOTE = ("unstructured sparsity keeps every tensor dense: torch, ONNX Runtime and OpenVINO CPU kernels "
                 "multiply the zeros like any other weight, so latency and dense MACs do not drop; it pays off only "
                 "with sparse kernels or when the file is compressed")


def _unstructured(model: nn.Module, inputs: tuple[torch.Tensor, ...], options: PruneOptions,
                  ignored: dict[str, nn.Module], hooks: _Hooks, macs0: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from torch.nn.utils import prune as tprune

    targets = {name: m for name, m in model.named_modules()
               if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)) and name not in ignored}
    if not targets:
        raise DLCompressError("no conv or linear layer is left to sparsify after the ignored scope")
    steps: list[dict[str, Any]] = []
    total = sum(m.weight.numel() for m in targets.values())
    for r in range(1, options.steps + 1):
        sparsity = options.ratio * r / options.steps  # type: ignore[operator]
        if options.global_pruning:
            done = sum(int((m.weight == 0).sum()) for m in targets.values())
            amount = max(0, round(sparsity * total) - done)
            tprune.global_unstructured([(m, "weight") for m in targets.values()], tprune.L1Unstructured, amount=amount)
        else:
            for m in targets.values():
                done = int((m.weight == 0).sum())
                tprune.l1_unstructured(m, "weight", amount=max(0, round(sparsity * m.weight.numel()) - done))
        info: dict[str, Any] = {"step": r, "sparsity": round(_sparsity(targets.values()), 4)}
        hooks.after_step(model, r, options.steps, info)
        steps.append(info)
    for m in targets.values():
        tprune.remove(m, "weight")
    layers = {name: round(float((m.weight == 0).float().mean()), 4) for name, m in targets.items()}
    zero = sum(int((m.weight == 0).sum()) for m in targets.values())
    dense = {r.name: r.macs for r in layer_table(model, inputs)}
    return {
        "sparsity": round(zero / total, 4), "zero_weights": zero, "layer_sparsity": layers,
        "nonzero_params": count_params(model) - zero,
        "effective_sparse_macs": int(macs0 - sum(dense.get(name, 0) * s for name, s in layers.items())),
        "note": SPARSITY_NOTE,
    }, steps


def _sparsity(modules: Iterable[nn.Module]) -> float:
    mods = list(modules)
    zero = sum(int((m.weight == 0).sum()) for m in mods)
    return zero / max(1, sum(m.weight.numel() for m in mods))


