"""How a model is to be loaded (weights, input shape, preprocessing), and the parsers of those options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dlcompress.toolkit.errors import (
    InputShapeError,
)

INIT_SEED = 0  # zoo models without weights are built from this seed, so runs (and CI) are reproducible


@dataclass(frozen=True)
class ModelOptions:
    """How to load a model: weights, input shape and preprocessing for models the zoo does not describe."""

    weights: str | None = None
    input_shape: tuple[int, ...] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    task: str | None = None
    """The task of a Hugging Face folder, where its own (from modules.json / config.json) is not the one wanted."""
    input_shapes: dict[str, tuple[int, ...]] | None = None
    """Shapes per named input (``--input-shape input_ids=1,128``): they size an ONNX file's symbolic dims."""
    tokenizer: str | None = None
    """A folder with tokenizer files: token inputs of an ONNX file are then fed from real text through it."""


def parse_floats(text: str | None, what: str) -> tuple[float, ...] | None:
    """``"0.5,0.5,0.5"`` -> ``(0.5, 0.5, 0.5)``; one clear error for anything else."""
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputShapeError(f"{what} must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise InputShapeError(f"{what} is empty")
    return values


def parse_named_shapes(text: str | None) -> dict[str, tuple[int, ...]] | None:
    """``"input_ids=1,128 attention_mask=1,128"`` (space or ``;`` between inputs) -> shapes by input name;
    None for a plain shape without names."""
    if text is None or "=" not in text:
        return None
    import re

    shapes = {}
    for part in (p for p in re.split(r"[;\s]+", text.strip()) if p):
        name, eq, dims = part.partition("=")
        if not eq or not name:
            raise InputShapeError(f"--input-shape {text!r}: give NAME=DIMS for every input, e.g. input_ids=1,128")
        shape = parse_shape(dims)
        assert shape is not None
        shapes[name] = shape
    return shapes


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """``"1,3,224,224"`` -> ``(1, 3, 224, 224)``."""
    if text is None:
        return None
    import re

    try:
        shape = tuple(int(v) for v in re.split(r"[,x]", text.strip()))
    except ValueError:
        raise InputShapeError(f"--input-shape must be comma-separated integers such as 1,3,224,224, got {text!r}") from None
    if len(shape) < 2 or any(d <= 0 for d in shape):
        raise InputShapeError(f"--input-shape {text!r} is not a valid shape", "give batch first, e.g. 1,3,224,224")
    return shape


# ---------------------------------------------------------------------------------------------------------
# zoo entries


def is_image_shape(shape: tuple[Any, ...]) -> bool:
    """``[batch, C, H, W]`` with 1 or 3 channels and an image-sized H, W: real photos fit it."""
    return len(shape) == 4 and shape[1] in (1, 3) and all(isinstance(d, int) and d >= 8 for d in shape[2:])
