"""The model registry: every zoo entry is a :class:`ModelSpec` registered under its name.

Family modules (listed in :data:`FAMILIES`, one line each) are imported on the first lookup in
:data:`MODELS`, so importing a spec type or a runtime never imports every model family (or torch).
"""

from __future__ import annotations

import importlib

from dlcompress.toolkit.registry import Registry
from dlcompress.toolkit.spec import ModelSpec

FAMILIES: tuple[str, ...] = (
    "vision",
    "reinforcement",
    "audio",
    "sequence",
    "graph",
    "detection",
    "generative",
    "metric",
    "meta",
)


def _load_families() -> None:
    for family in FAMILIES:
        importlib.import_module(f"dlcompress.zoo.{family}")


MODELS: Registry[ModelSpec] = Registry("model", loader=_load_families)


def register(spec: ModelSpec) -> ModelSpec:
    """Add a spec to :data:`MODELS` (a duplicate name is an error)."""
    return MODELS.add(spec.name, spec)
