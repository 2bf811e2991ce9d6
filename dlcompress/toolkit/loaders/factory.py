"""A Python factory the user brings (``file.py:build`` or ``package.module:build``) as a torch artifact, its
signature from ``--input-shape`` and its preprocessing from ``--mean``/``--std``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dlcompress.toolkit.artifact import Artifact, Format, StageRecord
from dlcompress.toolkit.checkpoint import (
    CHECKPOINT_META_KEY,
    load_state,
    read_checkpoint,
    structure_edits,
)
from dlcompress.toolkit.errors import (
    InputShapeError,
    ModelLoadError,
)
from dlcompress.toolkit.model_options import ModelOptions, is_image_shape
from dlcompress.toolkit.spec import (
    ModelCard,
    ModelSpec,
    Preprocess,
    TensorSpec,
    Tolerance,
)


def load_factory(target: str, options: ModelOptions) -> Artifact:
    """``path/to/net.py:build`` or ``pkg.mod:build`` -> the module the factory returns."""
    module_ref, _, attr = target.rpartition(":")
    if not module_ref or not attr:
        raise ModelLoadError(f"--model {target!r} is not of the form file.py:function or package.module:function")
    fn = getattr(_import(module_ref), attr, None)
    if fn is None or not callable(fn):
        raise ModelLoadError(f"{module_ref} has no callable {attr!r}")
    if options.input_shape is None:
        raise InputShapeError("a model from a factory needs its input shape", "add --input-shape, e.g. 1,3,224,224")
    try:
        model = fn()
    except Exception as e:  # noqa: BLE001 - user code
        raise ModelLoadError(f"factory {target} failed: {type(e).__name__}: {e}") from None
    if not isinstance(model, nn.Module):
        raise ModelLoadError(f"factory {target} returned {type(model).__name__}, not a torch.nn.Module")
    model.eval()
    shape = options.input_shape
    edits: list[dict[str, Any]] = []
    if options.weights:
        checkpoint = read_checkpoint(Path(options.weights))
        edits = structure_edits(checkpoint.get(CHECKPOINT_META_KEY) if isinstance(checkpoint, dict) else None)
        if edits:
            from dlcompress.toolkit.stages.structure import apply_structure

            model = apply_structure(model, edits, (torch.rand(shape),))
        load_state(model, checkpoint, options.weights)
    name = Path(module_ref).stem if module_ref.endswith(".py") else module_ref.rsplit(".", 1)[-1]
    spec = factory_spec(f"{name}.{attr}", model, shape, options)
    record = StageRecord("build", {"factory": target, "input_shape": list(shape)},
                         {"weights": options.weights or "as returned by the factory", **({"structure": edits} if edits else {})})
    return Artifact(Format.TORCH, spec, model=model, lineage=(record,))


def _import(module_ref: str) -> Any:
    if module_ref.endswith(".py"):
        path = Path(module_ref)
        if not path.exists():
            raise ModelLoadError(f"model file {path} does not exist")
        mod_name = f"dlcompress_user_{path.stem}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        except Exception as e:  # noqa: BLE001 - user code
            raise ModelLoadError(f"importing {path} failed: {type(e).__name__}: {e}") from None
        return module
    try:
        return importlib.import_module(module_ref)
    except ImportError as e:
        raise ModelLoadError(f"cannot import {module_ref}: {e}", "check the module name and PYTHONPATH") from None


def factory_spec(name: str, model: nn.Module, shape: tuple[int, ...], options: ModelOptions) -> ModelSpec:
    """A spec for a user model: declared input, outputs discovered by one forward pass."""
    x = torch.rand(shape)
    if options.mean is not None and options.std is not None:
        n = shape[1] if len(shape) > 1 else 1
        if len(options.mean) not in (1, n) or len(options.std) not in (1, n):
            raise InputShapeError(f"--mean/--std need 1 or {n} values (one per channel)")
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as e:  # noqa: BLE001 - user code
        msg = str(e).strip().splitlines()[-1][:200] if str(e).strip() else type(e).__name__
        raise InputShapeError(f"the model fails on an input of shape {','.join(map(str, shape))}: {msg}",
                              "check --input-shape") from None
    outs = out if isinstance(out, (tuple, list)) else (out,)
    if not all(isinstance(o, torch.Tensor) for o in outs):
        raise ModelLoadError(f"{name} returns {type(out).__name__}; dlcompress needs a tensor or a tuple of tensors")
    out_specs = tuple(
        TensorSpec("output" if len(outs) == 1 else f"output_{i}", ("batch", *o.shape[1:]), str(o.dtype).removeprefix("torch."))
        for i, o in enumerate(outs)
    )
    is_classifier = len(shape) == 4 and len(outs) == 1 and outs[0].dim() == 2
    mean, std = options.mean, options.std
    if mean is not None and len(mean) == 1 and len(shape) == 4:
        mean, std = mean * shape[1], (std or (1.0,)) * shape[1]
    return ModelSpec(
        name=name, task="image-classification" if is_classifier else "custom", builder=lambda: model,
        inputs=(TensorSpec("input", ("batch", *shape[1:])),), outputs=out_specs,
        preprocess=Preprocess(mean=mean, std=std),
        tolerance=Tolerance(atol=1e-4),
        card=ModelCard(
            family="user", default_data="photos" if is_image_shape(shape) else "synthetic",
            num_classes=int(outs[0].shape[1]) if is_classifier else None,
        ),
    )


# ---------------------------------------------------------------------------------------------------------
# ONNX files


