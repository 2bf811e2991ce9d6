"""Loading a model by what the user names: a zoo entry, ``file.py:fn`` / ``pkg.mod:fn``, or an ``.onnx`` file.

The dispatch lives here, above the zoo and the toolkit's loaders, because it is the one place that needs both.
"""

from __future__ import annotations

from pathlib import Path

from dlcompress.toolkit.artifact import Artifact
from dlcompress.toolkit.data import DataSplits
from dlcompress.toolkit.errors import ModelLoadError
from dlcompress.toolkit.models import (
    ModelOptions,
    load_factory,
    load_onnx_file,
    load_zoo,
)
from dlcompress.zoo import MODELS


def load_model(name: str, options: ModelOptions | None = None, data: DataSplits | None = None) -> Artifact:
    """Build the model ``name`` refers to (zoo entry, ``file.py:fn``, ``pkg.mod:fn`` or ``.onnx`` file)."""
    options = options or ModelOptions()
    if name.lower().endswith(".onnx"):
        return load_onnx_file(Path(name), options)
    if ":" in name:
        return load_factory(name, options)
    spec = MODELS.get(name)
    return load_zoo(spec, options, data)


def check_model_name(name: str) -> None:
    """Fail fast, before any work, on a model name that cannot load: an unknown zoo name (with the closest
    match), or a missing ``.onnx`` / ``file.py`` file."""
    if name.lower().endswith(".onnx"):
        if not Path(name).exists():
            raise ModelLoadError(f"ONNX file {name} does not exist")
        return
    if ":" in name:
        module_ref = name.rpartition(":")[0]
        if module_ref.endswith(".py") and not Path(module_ref).exists():
            raise ModelLoadError(f"model file {module_ref} does not exist", "give path/to/file.py:function")
        return
    MODELS.get(name)
