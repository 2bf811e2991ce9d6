"""The model zoo: one registry of :class:`ModelSpec`. Family modules are listed in
``dlcompress/zoo/registry.py:FAMILIES`` and imported on the first lookup in :data:`MODELS`."""

from dlcompress.toolkit.spec import ModelSpec, TensorSpec
from dlcompress.zoo.registry import FAMILIES, MODELS, register

__all__ = ["FAMILIES", "MODELS", "ModelSpec", "TensorSpec", "register"]
