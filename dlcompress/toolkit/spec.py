"""ModelSpec: the one declaration of a model: how to build it, its I/O signature, preprocessing, tolerance."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Dim = int | str  # a concrete size, or a symbolic name such as "batch"


@dataclass(frozen=True)
class TensorSpec:
    """One named input or output. Symbolic dims (strings) become dynamic axes on export."""

    name: str
    shape: tuple[Dim, ...]
    dtype: str = "float32"
    value_range: tuple[float, float] = (0.0, 1.0)
    unordered: bool = False
    """Rows along dim 0 form an unordered set (a detector's boxes): validation and evaluation match rows
    instead of comparing them by position (ties in score make their order arbitrary)."""

    def concrete_shape(self, batch: int = 1, **dims: int) -> tuple[int, ...]:
        """The shape with symbolic dims filled in (``batch`` and any named dims given)."""
        sizes = {"batch": batch, **dims}
        out = []
        for d in self.shape:
            if isinstance(d, int):
                out.append(d)
            elif d in sizes:
                out.append(sizes[d])
            else:
                raise ValueError(f"no size given for symbolic dim {d!r} of {self.name}")
        return tuple(out)

    def dynamic_axes(self) -> dict[int, str]:
        return {i: d for i, d in enumerate(self.shape) if isinstance(d, str)}

    def describe(self) -> str:
        dims = ",".join(str(d) for d in self.shape)
        return f"{self.name}[{dims}]:{self.dtype}"


@dataclass(frozen=True)
class Preprocess:
    """How a [0, 1] image becomes the model's input, and which image sizes the model accepts."""

    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    min_image_size: int = 1
    size_multiple: int = 1
    channels_last: bool = False
    """Image inputs are ``[batch, H, W, C]`` (Keras/TensorFlow models) instead of ``[batch, C, H, W]``."""


@dataclass(frozen=True)
class Tolerance:
    """How far an export's outputs may differ from the source model's and still count as validated."""

    atol: float = 1e-4
    rtol: float = 1e-3


@dataclass(frozen=True)
class ModelCard:
    """What the catalogue says of a model: where it comes from and what it is for. Read by listing, by
    loading (named pretrained weights, adapting the class count) and by the choice of default data."""

    family: str = "custom"
    paper: str = ""
    default_data: str = "synthetic"
    num_classes: int | None = None
    adaptable: bool = False
    """The builder takes ``num_classes``/``in_chans``/``image_size`` and can be rebuilt for other data."""
    tiny_of: str | None = None
    weights_enum: Callable[[], Any] | None = None
    export_notes: str = ""


_GROUPS = {"preprocess": Preprocess, "tolerance": Tolerance, "card": ModelCard}


@dataclass(frozen=True)
class ModelSpec:
    """A zoo entry (or a user's model): how to build it and its I/O contract, with the preprocessing, the
    validation tolerance and the catalogue facts in groups of their own.

    ``builder(**build_args)`` returns a fresh ``torch.nn.Module``.
    """

    name: str
    task: str
    builder: Callable[..., Any]
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    build_args: dict[str, Any] = field(default_factory=dict)
    dims: dict[str, int] = field(default_factory=dict)
    """Sizes of symbolic dims other than ``batch`` (e.g. ``{"seq": 32}``) for generated inputs."""
    preprocess: Preprocess = Preprocess()
    tolerance: Tolerance = Tolerance()
    card: ModelCard = ModelCard()
    hints: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per-backend hints, plain data read only by the backend they name (each reader documents its keys):
    ``quantize.method`` (the method when none is asked for: ``dynamic`` suits transformers and recurrent nets),
    ``onnx.routes`` (export routes to try first), ``onnxruntime.op_types`` (the op types static int8 touches:
    detectors keep box decoding and NMS in float by quantizing only Conv/MatMul/Gemm)."""

    def hint(self, backend: str, key: str, default: Any = None) -> Any:
        """``hints[backend][key]``, or ``default`` when the spec gives none."""
        return self.hints.get(backend, {}).get(key, default)

    def build(self, **overrides: Any) -> Any:
        """Instantiate the model (random init) with the spec's build arguments."""
        return self.builder(**{**self.build_args, **overrides})

    @property
    def is_image_model(self) -> bool:
        """Every input is a float image batch of one shape: a classifier or detector (one input), or a Siamese
        pair, triplet or conditional discriminator (several images, each fed from the image data)."""
        return (bool(self.inputs) and all(len(t.shape) == 4 and t.dtype == "float32" for t in self.inputs)
                and len({t.shape for t in self.inputs}) == 1)

    @property
    def fixed_batch(self) -> int | None:
        """1 when no input has a symbolic ``batch`` dim (detectors take one image per call), else None."""
        return None if any("batch" in t.shape for t in self.inputs) else 1

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of an image model's input."""
        c, h, w = (self.dims.get(d, d) if isinstance(d, str) else d for d in self.inputs[0].shape[1:])
        if self.preprocess.channels_last:
            h, w, c = c, h, w
        if not all(isinstance(v, int) for v in (c, h, w)):
            raise ValueError(f"{self.name}: image dims must be concrete")
        return int(c), int(h), int(w)

    def replace(self, **changes: Any) -> ModelSpec:
        """A copy with ``changes``: top-level fields, or fields of a group by their own name (``mean=``,
        ``num_classes=``, ``atol=``)."""
        top = {k: v for k, v in changes.items() if k in self.__dataclass_fields__}
        for group, cls in _GROUPS.items():
            inner = {k: changes[k] for k in cls.__dataclass_fields__ if k in changes}
            if inner:
                top[group] = dataclasses.replace(top.get(group, getattr(self, group)), **inner)
        unknown = set(changes) - set(top) - {k for cls in _GROUPS.values() for k in cls.__dataclass_fields__}
        if unknown:
            raise TypeError(f"ModelSpec has no field {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **top)

    def example_inputs(self, batch: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
        """Inputs generated from the declared signature (uniform in the value range; ints for token ids)."""
        rng = np.random.default_rng(seed)
        out: dict[str, np.ndarray] = {}
        for t in self.inputs:
            shape = t.concrete_shape(batch, **self.dims)
            lo, hi = t.value_range
            if t.dtype.startswith("int"):
                out[t.name] = rng.integers(int(lo), int(hi), size=shape).astype(t.dtype)
            elif t.dtype == "bool":
                out[t.name] = np.ones(shape, dtype=bool)
            else:
                x = rng.uniform(lo, hi, size=shape).astype(t.dtype)
                pre = self.preprocess
                if self.is_image_model and pre.mean is not None and pre.std is not None:
                    where = (1, 1, 1, -1) if pre.channels_last else (1, -1, 1, 1)
                    mean = np.asarray(pre.mean, dtype=np.float32).reshape(where)
                    x = (x - mean) / np.asarray(pre.std, dtype=np.float32).reshape(where)
                out[t.name] = x
        return out

    def signature(self) -> str:
        ins = ", ".join(t.describe() for t in self.inputs)
        outs = ", ".join(t.describe() for t in self.outputs)
        return f"({ins}) -> ({outs})"


def image_classifier_io(
    channels: int, size: int | tuple[int, int], num_classes: int
) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """The I/O signature of an image classifier: ``input[batch,C,H,W] -> logits[batch,num_classes]``."""
    h, w = (size, size) if isinstance(size, int) else size
    ins = (TensorSpec("input", ("batch", channels, h, w)),)
    outs = (TensorSpec("logits", ("batch", num_classes)),)
    return ins, outs
