"""What the torch stages share: per-layer complexity, the classifier head, and replayable structure edits.

A stage that changes a model's architecture (pruning removes channels, depthwise replacement swaps
convolutions) records a *structure edit* in its lineage record (``effect["structure"]``): plain JSON that
:func:`apply_structure` replays on a freshly built zoo model, so a checkpoint of the edited model loads with
``--model NAME --weights edited.pt`` (see :func:`save_checkpoint` and ``toolkit/loaders/zoo_entry.py``).
"""

from __future__ import annotations

import copy
import importlib
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dlcompress.toolkit.artifact import Artifact
from dlcompress.toolkit.errors import DLCompressError, WeightsError, describe_failure
from dlcompress.toolkit.registry import Registry

STRUCTURE_FORMAT = 1
EDIT_MODULES = ("prune", "depthwise")  # modules under toolkit/stages that register structure edits

Replay = Callable[[nn.Module, dict[str, Any], tuple[torch.Tensor, ...]], nn.Module]
STRUCTURE_EDITS: Registry[Replay] = Registry("structure edit")


# ---------------------------------------------------------------------------------------------------------
# inputs, copies


def example_inputs(artifact: Artifact, batch: int = 1) -> tuple[torch.Tensor, ...]:
    """Tensors for one forward pass, from the spec's declared signature."""
    feeds = artifact.spec.example_inputs(batch)
    return tuple(torch.from_numpy(feeds[t.name]) for t in artifact.spec.inputs)


def torch_model(artifact: Artifact, stage: str) -> nn.Module:
    """A deep copy of a torch artifact's module (stages never change their input)."""
    if artifact.model is None:
        raise DLCompressError(f"{stage} works on torch models; {artifact.spec.name} is a {artifact.format} model",
                              f"run {stage} before export")
    return copy.deepcopy(artifact.model).eval()


# ---------------------------------------------------------------------------------------------------------
# per-layer complexity


@dataclass(frozen=True)
class LayerInfo:
    """One conv or linear layer as it ran on the example input."""

    name: str
    type: str
    in_channels: int
    out_channels: int
    kernel: tuple[int, ...]
    groups: int
    out_hw: tuple[int, ...]
    params: int
    macs: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def layer_table(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> list[LayerInfo]:
    """Conv/Linear layers in execution order with MACs per sample: H·W·(C/groups)·K·K·M for a conv,
    (positions)·C·M for a linear layer."""
    rows: list[LayerInfo] = []
    hooks = []

    def hook(name: str) -> Callable[..., None]:
        def run(mod: nn.Module, args: tuple, out: Any) -> None:
            if not isinstance(out, torch.Tensor):
                return
            batch = out.shape[0] if out.dim() > 1 else 1
            params = sum(p.numel() for p in mod.parameters(recurse=False))
            if isinstance(mod, nn.modules.conv._ConvNd):
                k = tuple(int(v) for v in mod.kernel_size)
                per_pos = (mod.in_channels // mod.groups) * math.prod(k) * mod.out_channels
                positions = out[0, 0].numel()
                rows.append(LayerInfo(name, type(mod).__name__, mod.in_channels, mod.out_channels, k, mod.groups,
                                      tuple(out.shape[2:]), params, positions * per_pos))
            else:
                positions = out.numel() // max(1, batch) // mod.out_features
                rows.append(LayerInfo(name, "Linear", mod.in_features, mod.out_features, (), 1, (), params,
                                      positions * mod.in_features * mod.out_features))
        return run

    for name, mod in model.named_modules():
        if isinstance(mod, (nn.modules.conv._ConvNd, nn.Linear)):
            hooks.append(mod.register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            model.eval()(*inputs)
    finally:
        for h in hooks:
            h.remove()
    return rows


def head_name(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> str | None:
    """The layer that produces the output: the last conv/linear layer to run (the classifier of a CNN)."""
    table = layer_table(model, inputs)
    return table[-1].name if table else None


def compare_layers(before: list[LayerInfo], after: list[LayerInfo]) -> list[dict[str, Any]]:
    """Per-layer before/after rows (layers matched by name; replaced layers show their new sub-layers)."""
    by_name = {r.name: r for r in after}
    out = []
    for b in before:
        subs = [a for a in after if a.name == b.name or a.name.startswith(b.name + ".")]
        a = by_name.get(b.name)
        out.append({
            "name": b.name, "type": b.type,
            "in_channels": [b.in_channels, a.in_channels if a else (subs[0].in_channels if subs else None)],
            "out_channels": [b.out_channels, a.out_channels if a else (subs[-1].out_channels if subs else None)],
            "params": [b.params, sum(s.params for s in subs)],
            "macs": [b.macs, sum(s.macs for s in subs)],
        })
    return out


# ---------------------------------------------------------------------------------------------------------
# structure edits: recorded by stages, replayed on load


def structure_of(artifact: Artifact) -> list[dict[str, Any]]:
    """The structure edits in an artifact's lineage, in order: a stage records one edit (a dict); loading a
    checkpoint records the edits it replayed (a list)."""
    edits: list[dict[str, Any]] = []
    for r in artifact.lineage:
        s = r.effect.get("structure")
        if isinstance(s, dict):
            edits.append(s)
        elif isinstance(s, list):
            edits += [e for e in s if isinstance(e, dict)]
    return edits


def apply_structure(model: nn.Module, edits: list[dict[str, Any]], inputs: tuple[torch.Tensor, ...]) -> nn.Module:
    """Replay recorded structure edits on a freshly built model (same architecture and build arguments)."""
    for name in EDIT_MODULES:
        importlib.import_module(f"dlcompress.toolkit.stages.{name}")
    model.eval()
    for i, edit in enumerate(edits):
        kind = edit.get("kind") if isinstance(edit, dict) else None
        if kind not in STRUCTURE_EDITS:
            raise WeightsError(f"checkpoint structure edit #{i + 1} has unknown kind {kind!r}",
                               f"this dlcompress knows: {', '.join(STRUCTURE_EDITS.names())}")
        try:
            model = STRUCTURE_EDITS.get(kind)(model, edit, inputs)
        except DLCompressError:
            raise
        except Exception as e:  # noqa: BLE001 - a plan from another architecture fails in many ways
            raise WeightsError(f"cannot replay the {kind} plan of the checkpoint on this model: "
                               f"{describe_failure(e, 200)}",
                               "load it with the same --model (and data adaptation) it was made from") from None
    return model.eval()


def save_checkpoint(artifact: Artifact, path: Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``state_dict`` + the ``dlcompress`` metadata (build args and structure edits) to ``path``.

    The caller makes the write atomic (``toolkit.outputs.atomic_file`` / ``atomic_dir``).
    """
    from dlcompress.toolkit.checkpoint import CHECKPOINT_META_KEY

    spec = artifact.spec
    model = artifact.model
    if model is None:
        raise DLCompressError(f"only torch models are saved as checkpoints; this one is {artifact.format}")
    meta: dict[str, Any] = {
        "model": spec.name, "build_args": dict(spec.build_args),
        "mean": list(spec.preprocess.mean) if spec.preprocess.mean else None, "std": list(spec.preprocess.std) if spec.preprocess.std else None,
        "structure": structure_of(artifact), "stages": [r.stage for r in artifact.lineage],
        "format": STRUCTURE_FORMAT, **(extra or {}),
    }
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, CHECKPOINT_META_KEY: meta}, path)
    return meta
