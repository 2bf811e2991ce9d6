"""Loading a model by what the user names: a zoo entry, ``file.py:fn`` / ``pkg.mod:fn``, an ``.onnx`` file, or a
Hugging Face model folder.

The dispatch lives here, above the zoo and the toolkit's loaders, because it is the one place that needs both.
"""

from __future__ import annotations

from pathlib import Path

from dlcompress.toolkit.artifact import Artifact
from dlcompress.toolkit.data import DataSplits
from dlcompress.toolkit.errors import ModelLoadError
from dlcompress.toolkit.hf_folder import check_hf_folder, load_hf_folder
from dlcompress.toolkit.models import (
    ModelOptions,
    load_factory,
    load_onnx_file,
    load_zoo,
)
from dlcompress.zoo import MODELS


def load_model(name: str, options: ModelOptions | None = None, data: DataSplits | None = None) -> Artifact:
    """Build the model ``name`` refers to (zoo entry, ``file.py:fn``, ``pkg.mod:fn``, ``.onnx`` file or a Hugging
    Face folder)."""
    options = options or ModelOptions()
    if name.lower().endswith(".onnx"):
        return load_onnx_file(Path(name), options)
    if ":" in name:
        return load_factory(name, options)
    if _is_folder(name):
        return load_hf_folder(name, options.task, _seq_length(options.input_shape))
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
    if _is_folder(name):
        check_hf_folder(name)
        return
    MODELS.get(name)


def _is_folder(name: str) -> bool:
    """A path to a folder (a Hugging Face model folder, or a folder that should be one)."""
    return Path(name).is_dir() or "/" in name  # zoo names have no slash


def _seq_length(shape: tuple[int, ...] | None) -> int | None:
    """``--input-shape 1,32`` for a text model: its token length."""
    if shape is None:
        return None
    if len(shape) != 2:
        raise ModelLoadError(f"a text model takes --input-shape BATCH,TOKENS (e.g. 1,16), got {','.join(map(str, shape))}")
    return shape[1]
