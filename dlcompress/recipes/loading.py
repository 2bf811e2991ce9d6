"""Loading a model by what the user names: a zoo entry, ``file.py:fn`` / ``pkg.mod:fn``, an ``.onnx`` file, a
Keras file (``.keras``/``.h5``) or TensorFlow SavedModel folder, or a Hugging Face model folder.

Each kind is a :class:`ModelSource` registered in :data:`MODEL_SOURCES` (its loader lives in the toolkit, one
module per kind); the registry lives here, above the zoo and the toolkit, because it is the one place that needs
both. ``tests/contracts/test_model_source_contract.py`` tests every registered source.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dlcompress.toolkit.artifact import Artifact
from dlcompress.toolkit.data import DataSplits
from dlcompress.toolkit.errors import ModelLoadError
from dlcompress.toolkit.loaders.factory import load_factory
from dlcompress.toolkit.loaders.hf_folder import (
    check_hf_folder,
    is_hf_folder,
    load_hf_folder,
)
from dlcompress.toolkit.loaders.keras_model import (
    is_keras_path,
    load_keras,
    require_tensorflow,
)
from dlcompress.toolkit.loaders.onnx_file import load_onnx_file
from dlcompress.toolkit.loaders.zoo_entry import load_zoo
from dlcompress.toolkit.model_options import ModelOptions
from dlcompress.toolkit.registry import Registry
from dlcompress.zoo import MODELS


@dataclass(frozen=True)
class ModelSource:
    """One kind of thing ``--model`` names: how to recognise it, check it before any work, and load it.

    Sources are tried in ``order`` (lowest first); the zoo, which takes any other name, comes last."""

    order: int
    matches: Callable[[str], bool]
    check: Callable[[str], None]
    load: Callable[[str, ModelOptions, DataSplits | None], Artifact]
    description: str
    example: str = ""
    requires: tuple[str, ...] = ()
    """Packages the source needs (``dlcompress backends`` says which are missing, and ``extra`` installs them)."""
    extra: str | None = None

    def available(self) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in self.requires)

    def install_hint(self) -> str:
        return f"pip install 'dlcompress[{self.extra}]'" if self.extra else f"pip install {' '.join(self.requires)}"


MODEL_SOURCES: Registry[ModelSource] = Registry("model source")


def source_for(name: str) -> tuple[str, ModelSource]:
    """The registered source that takes the model name ``name`` (the zoo when no other does)."""
    ordered = sorted(MODEL_SOURCES.names(), key=lambda n: MODEL_SOURCES.get(n).order)
    for source in ordered:
        if MODEL_SOURCES.get(source).matches(name):
            return source, MODEL_SOURCES.get(source)
    return "zoo", MODEL_SOURCES.get("zoo")


def load_model(name: str, options: ModelOptions | None = None, data: DataSplits | None = None) -> Artifact:
    """Build the model ``name`` refers to, through the source that takes it (zoo entry, ``file.py:fn``,
    ``pkg.mod:fn``, ``.onnx`` file, Keras file or SavedModel folder, or a Hugging Face folder)."""
    return source_for(name)[1].load(name, options or ModelOptions(), data)


def check_model_name(name: str) -> None:
    """Fail fast, before any work, on a model name that cannot load: an unknown zoo name (with the closest
    match), a missing file or folder, a Keras model without the [tensorflow] extra."""
    source_for(name)[1].check(name)


def _check_onnx(name: str) -> None:
    if not Path(name).exists():
        raise ModelLoadError(f"ONNX file {name} does not exist")


def _check_keras(name: str) -> None:
    if not Path(name).exists():
        raise ModelLoadError(f"Keras model {name} does not exist")
    require_tensorflow()


def _check_factory(name: str) -> None:
    module_ref = name.rpartition(":")[0]
    if module_ref.endswith(".py") and not Path(module_ref).exists():
        raise ModelLoadError(f"model file {module_ref} does not exist", "give path/to/file.py:function")


def _check_zoo(name: str) -> None:
    MODELS.get(name)  # an unknown name: one line with the closest entries


MODEL_SOURCES.add("onnx-file", ModelSource(
    10, lambda n: n.lower().endswith(".onnx"), _check_onnx, lambda n, o, d: load_onnx_file(Path(n), o),
    "an ONNX file of any signature", "--model model.onnx [--tokenizer FOLDER]", ("onnx", "onnxruntime")))
MODEL_SOURCES.add("keras", ModelSource(
    20, is_keras_path, _check_keras, lambda n, o, d: load_keras(Path(n), o.mean, o.std),
    "a Keras / TensorFlow model", "--model model.keras | model.h5 | saved_model_dir/", ("tensorflow", "tf2onnx"),
    extra="tensorflow"))
MODEL_SOURCES.add("factory", ModelSource(
    30, lambda n: ":" in n, _check_factory, lambda n, o, d: load_factory(n, o),
    "a Python factory returning a torch module", "--model file.py:build --input-shape 1,3,224,224 [--weights ckpt.pt]",
    ("torch",)))
MODEL_SOURCES.add("hf-folder", ModelSource(
    40, lambda n: _is_folder(n), check_hf_folder, lambda n, o, d: load_hf_folder(n, o.task, _seq_length(o)),
    "a Hugging Face model folder (local files only)", "--model path/to/folder [--task ...]", ("transformers",)))
MODEL_SOURCES.add("zoo", ModelSource(
    1000, lambda n: True, _check_zoo, lambda n, o, d: load_zoo(MODELS.get(n), o, d),
    "a zoo entry (dlcompress zoo list)", "--model resnet50 [--weights IMAGENET1K_V1 | ckpt.pt]", ("torch", "torchvision")))


TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _is_folder(name: str) -> bool:
    """A path to a folder (a Hugging Face model folder, or a folder that should be one). A bare zoo name is the
    zoo entry even when the working directory holds a folder of that name that is no model folder (an earlier
    ``--out mobilenet_v2``)."""
    if "/" in name:  # zoo names have no slash
        return True
    return Path(name).is_dir() and (is_hf_folder(name) or name not in MODELS)


def _seq_length(options: ModelOptions) -> int | None:
    """The token length of a text model: ``--input-shape 1,32``, or by name (``input_ids=1,32``, one or more of
    the token inputs, all with the same length)."""
    named = options.input_shapes or {}
    unknown = sorted(set(named) - set(TOKEN_INPUTS))
    if unknown:
        raise ModelLoadError(f"--input-shape names {', '.join(unknown)}, which is not an input of a Hugging Face text "
                             f"model", f"name one of {', '.join(TOKEN_INPUTS)} (e.g. input_ids=1,32)")
    shapes = list(named.items()) or ([("--input-shape", options.input_shape)] if options.input_shape else [])
    for name, shape in shapes:
        if len(shape) != 2:
            raise ModelLoadError(f"a text model takes --input-shape BATCH,TOKENS (e.g. 1,16), got "
                                 f"{'' if name == '--input-shape' else name + '='}{','.join(map(str, shape))}")
    lengths = {shape[1] for _, shape in shapes}
    if len(lengths) > 1:
        raise ModelLoadError(f"the token inputs are given different lengths ({', '.join(f'{n}={s[1]}' for n, s in shapes)})",
                             "give every token input the same length")
    return lengths.pop() if lengths else None
