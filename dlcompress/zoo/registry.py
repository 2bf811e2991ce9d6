"""The model registry: every zoo entry is a :class:`ModelSpec` registered under its name."""

from __future__ import annotations

from dlcompress.toolkit.registry import Registry
from dlcompress.zoo.spec import ModelSpec

MODELS: Registry[ModelSpec] = Registry("model")


def register(spec: ModelSpec) -> ModelSpec:
    """Add a spec to :data:`MODELS` (a duplicate name is an error)."""
    return MODELS.add(spec.name, spec)
