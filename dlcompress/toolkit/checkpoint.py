"""The checkpoint format: ``{"state_dict": ..., "dlcompress": {model, build_args, structure, ...}}``, read with
``torch.load(weights_only=True)``; plain state_dicts (or dicts holding one under ``state_dict`` / ``model``, with
DDP's ``module.`` prefix) load too. Mismatches are one :class:`WeightsError` line naming the first differences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from dlcompress.toolkit.errors import WeightsError, first_line

CHECKPOINT_META_KEY = "dlcompress"


def structure_edits(meta: Any) -> list[dict[str, Any]]:
    """Structure edits (pruning plans, layer replacements) a checkpoint's metadata asks to replay before loading."""
    edits = meta.get("structure") if isinstance(meta, dict) else None
    return [e for e in edits if isinstance(e, dict)] if isinstance(edits, list) else []


def read_checkpoint(path: Path) -> Any:
    """``torch.load(weights_only=True)`` with one clear error for missing or unreadable files."""
    if not path.exists():
        raise WeightsError(f"weights file {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for corrupt files
        raise WeightsError(f"cannot read weights file {path}: {first_line(e, 200) or type(e).__name__}",
                           "pass a state_dict saved with torch.save (weights only)") from None


def state_dict_of(checkpoint: Any, source: str) -> dict[str, torch.Tensor]:
    """The state_dict inside a checkpoint: the dict itself, or under ``state_dict`` / ``model``."""
    if isinstance(checkpoint, dict):
        for key in ("state_dict", "model"):
            if isinstance(checkpoint.get(key), dict):
                checkpoint = checkpoint[key]
                break
    if not isinstance(checkpoint, dict) or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise WeightsError(f"{source} holds no state_dict", "save model.state_dict(), or a dict with it under 'state_dict'")
    prefix = "module."
    if checkpoint and all(k.startswith(prefix) for k in checkpoint):
        checkpoint = {k[len(prefix):]: v for k, v in checkpoint.items()}
    return checkpoint


def load_state(model: nn.Module, checkpoint: Any, source: str | None) -> None:
    """Load a checkpoint strictly; a mismatch is one line naming the first differences."""
    state = state_dict_of(checkpoint, str(source))
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if shapes:
            parts.append(f"{len(shapes)} shape mismatch(es), e.g. {shapes[0]}")
        if missing:
            parts.append(f"{len(missing)} missing key(s), e.g. {missing[0]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[0]}")
        raise WeightsError(f"weights {source} do not match the model: " + "; ".join(parts),
                           "check --model (and --data, which adapts channels and classes) against the checkpoint")
    model.load_state_dict(state, strict=True)
