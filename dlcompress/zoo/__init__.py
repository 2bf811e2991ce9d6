"""The model zoo. Importing this package registers every family module's entries in :data:`MODELS`."""

from dlcompress.zoo import vision  # noqa: F401  (registers entries)
from dlcompress.zoo.registry import MODELS, register
from dlcompress.zoo.spec import ModelSpec, TensorSpec

__all__ = ["MODELS", "ModelSpec", "TensorSpec", "register"]
