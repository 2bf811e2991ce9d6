"""Load a model from what a user brings: a zoo name, a Python factory, an ONNX file; plus weights.

The result is an :class:`Artifact` (torch, or onnx for ``.onnx`` files) whose :class:`ModelSpec` describes
the model actually built: adapted to a dataset's channels, classes and image size where the entry allows it.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
from dataclasses import dataclass
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
from dlcompress.toolkit.data import DataSplits
from dlcompress.toolkit.errors import (
    InputShapeError,
    InvalidModelFileError,
    ModelLoadError,
    WeightsError,
    first_line,
)
from dlcompress.toolkit.spec import ModelCard, ModelSpec, Preprocess, TensorSpec, Tolerance, image_classifier_io

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


def load_zoo(spec: ModelSpec, options: ModelOptions, data: DataSplits | None) -> Artifact:
    checkpoint = read_checkpoint(Path(options.weights)) if options.weights and _looks_like_path(options.weights) else None
    meta = checkpoint.get(CHECKPOINT_META_KEY) if isinstance(checkpoint, dict) else None
    if isinstance(meta, dict) and meta.get("build_args") and spec.card.adaptable:
        if meta.get("model") not in (None, spec.name):
            raise WeightsError(f"checkpoint {options.weights} was trained for {meta.get('model')!r}, not {spec.name!r}",
                               f"use --model {meta.get('model')}")
        spec = adapt_spec(spec, **meta["build_args"])
    elif data is not None and data.labelled and spec.card.adaptable and data.kind == "image":
        spec = adapt_to_data(spec, data)
    if options.input_shape is not None:
        spec = apply_input_shape(spec, options.input_shape)
    if options.mean is not None or options.std is not None:
        spec = spec.replace(mean=options.mean, std=options.std)
    with torch.random.fork_rng(devices=[]):  # the same random-init model on every run, without touching the caller's RNG
        torch.manual_seed(INIT_SEED)
        model = spec.build().eval()
    record = StageRecord("build", {"model": spec.name, **spec.build_args}, {"weights": "random-init", "seed": INIT_SEED})
    if checkpoint is not None:
        edits = structure_edits(meta)
        if edits:
            feeds = spec.example_inputs(1)
            model = replay_structure(model, edits, tuple(torch.from_numpy(feeds[t.name]) for t in spec.inputs))
        load_state(model, checkpoint, options.weights)
        record = StageRecord("build", {"model": spec.name, **spec.build_args},
                             {"weights": str(options.weights), **({"structure": edits} if edits else {})})
    elif options.weights:
        load_pretrained(model, spec, options.weights)
        record = StageRecord("build", {"model": spec.name, **spec.build_args}, {"weights": f"torchvision:{options.weights}"})
    return Artifact(Format.TORCH, spec, model=model, lineage=(record,))


def replay_structure(model: nn.Module, edits: list[dict[str, Any]], inputs: tuple[torch.Tensor, ...]) -> nn.Module:
    """Re-apply the recorded edits so a pruned or depthwise-replaced checkpoint fits the freshly built model."""
    from dlcompress.toolkit.stages.structure import apply_structure

    return apply_structure(model, edits, inputs)


def adapt_spec(spec: ModelSpec, **build_args: Any) -> ModelSpec:
    """The spec with new build arguments (``num_classes``, ``in_chans``, ``image_size``) and I/O to match."""
    args = {**spec.build_args, **build_args}
    if spec.task != "image-classification":
        return spec.replace(build_args=args)
    ins, outs = image_classifier_io(args["in_chans"], args["image_size"], args["num_classes"])
    mean, std = spec.preprocess.mean, spec.preprocess.std
    if mean is not None and len(mean) != args["in_chans"]:
        mean = (sum(mean) / len(mean),) * args["in_chans"]
        std = (sum(std) / len(std),) * args["in_chans"] if std else None
    return spec.replace(build_args=args, inputs=ins, outputs=outs, num_classes=args["num_classes"], mean=mean, std=std)


def adapt_to_data(spec: ModelSpec, data: DataSplits) -> ModelSpec:
    """Adapt an image classifier to a labelled dataset's channels, classes and (at least) its image size."""
    size = max(max(data.image_size), spec.preprocess.min_image_size)
    size = -(-size // spec.preprocess.size_multiple) * spec.preprocess.size_multiple
    if data.name not in ("fashion-mnist", "digits"):
        size = spec.image_shape[1]  # photos and folders are resized to the model's own size
    return adapt_spec(spec, num_classes=data.num_classes, in_chans=data.channels, image_size=size)


def apply_input_shape(spec: ModelSpec, shape: tuple[int, ...]) -> ModelSpec:
    if not spec.is_image_model:
        raise InputShapeError(f"--input-shape applies to image models; {spec.name} takes {spec.signature()}")
    c, h, w = spec.image_shape
    if len(shape) != 4:
        raise InputShapeError(f"{spec.name} takes a 4-d input (batch,{c},H,W); got --input-shape {','.join(map(str, shape))}")
    if shape[1] != c:
        raise InputShapeError(f"{spec.name} takes {c} input channels; --input-shape has {shape[1]}",
                              f"use {shape[0]},{c},{shape[2]},{shape[3]}")
    if (shape[2], shape[3]) == (h, w):
        return spec
    if not spec.card.adaptable or shape[2] != shape[3] or shape[2] < spec.preprocess.min_image_size or shape[2] % spec.preprocess.size_multiple:
        raise InputShapeError(
            f"{spec.name} cannot take {shape[2]}x{shape[3]} images",
            f"use a square size >= {spec.preprocess.min_image_size} that is a multiple of {spec.preprocess.size_multiple}",
        )
    return adapt_spec(spec, image_size=shape[2])


def load_pretrained(model: nn.Module, spec: ModelSpec, weights: str) -> None:
    """Load torchvision pretrained weights, but only from the local torch hub cache (never download)."""
    if spec.card.weights_enum is None:
        raise WeightsError(f"{spec.name} has no named pretrained weights, and {weights!r} is not a file",
                           "pass a checkpoint path with --weights")
    w = pretrained_weights(spec, weights)
    enum_name = type(w).__name__
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(w.url).name
    if not cached.exists():
        raise WeightsError(f"pretrained weights {enum_name}.{w.name} are not in the local cache ({cached})",
                           f"copy {w.url} there, or pass a checkpoint path with --weights")
    if spec.build_args.get("num_classes") != len(w.meta.get("categories", [])) or spec.build_args.get("in_chans", 3) != 3:
        raise WeightsError(f"{enum_name}.{w.name} is for 3-channel, {len(w.meta['categories'])}-class input, "
                           f"but the model was adapted to {spec.build_args}", "drop --data or train your own checkpoint")
    check_cached_hash(cached, f"{enum_name}.{w.name}", w.url)
    load_state(model, read_checkpoint(cached), str(cached))


def pretrained_weights(spec: ModelSpec, weights: str) -> Any:
    """The torchvision weights member a ``--weights`` name means: ``IMAGENET1K_V1`` (any case), ``DEFAULT``, or
    qualified as ``MobileNet_V2_Weights.IMAGENET1K_V1``, whose enum must be this model's own."""
    enum = spec.card.weights_enum()
    names = ", ".join(m for m in enum.__members__)
    prefix, _, member = weights.strip().rpartition(".")
    if prefix and prefix.rsplit(".", 1)[-1].lower() != enum.__name__.lower():
        raise WeightsError(f"{weights!r} names weights of another model: {spec.name}'s are {enum.__name__}",
                           f"known weights: {names}")
    found = next((m for m in enum.__members__ if m.lower() == member.lower()), None)
    if found is None:
        raise WeightsError(f"{weights!r} is neither a file nor a weights name of {spec.name}",
                           f"known weights: {names}")
    return enum[found]


def check_cached_hash(path: Path, name: str, url: str) -> None:
    """torchvision's file names carry the start of the file's SHA-256 (``mobilenet_v2-b0353104.pth``); a cached
    file whose hash does not start so is not the file published under that name (as torchvision's own
    ``check_hash`` would find)."""
    import hashlib
    import re

    match = re.search(r"-([a-f0-9]{6,})\.", Path(url).name)
    if match is None:
        return
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if not digest.hexdigest().startswith(match.group(1)):
        raise WeightsError(f"the cached {path} is not the file published as {name} (its SHA-256 starts "
                           f"{digest.hexdigest()[:len(match.group(1))]}, not {match.group(1)})",
                           f"copy {url} there again, or pass your own checkpoint as a path with --weights")


def _looks_like_path(text: str) -> bool:
    return Path(text).exists() or any(text.endswith(s) for s in (".pt", ".pth", ".ckpt", ".bin", ".safetensors")) or "/" in text


# ---------------------------------------------------------------------------------------------------------
# Python factories


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
            model = replay_structure(model, edits, (torch.rand(shape),))
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
            family="user", default_data="photos" if _is_image_shape(shape) else "synthetic",
            num_classes=int(outs[0].shape[1]) if is_classifier else None,
        ),
    )


# ---------------------------------------------------------------------------------------------------------
# ONNX files


def load_onnx_file(path: Path, options: ModelOptions) -> Artifact:
    """An existing ONNX file: checked, and described by its own graph inputs and outputs."""
    import onnx

    if not path.exists():
        raise ModelLoadError(f"ONNX file {path} does not exist")
    try:
        model = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(model)
    except Exception as e:  # noqa: BLE001 - onnx raises DecodeError, ValidationError, ...
        raise InvalidModelFileError(f"{path} is not a valid ONNX model: {first_line(e, 200) or type(e).__name__}",
                                    "re-export the model") from None
    inits = {i.name for i in model.graph.initializer}
    inputs = tuple(_tensor_spec(v) for v in model.graph.input if v.name not in inits)
    outputs = tuple(_tensor_spec(v) for v in model.graph.output)
    if not inputs:
        raise InvalidModelFileError(f"{path} has no inputs")
    if options.input_shape is not None and len(inputs) == 1:
        given = options.input_shape
        declared = inputs[0].shape
        if len(given) != len(declared) or any(isinstance(d, int) and d != g for d, g in zip(declared, given)):
            raise InputShapeError(f"{path.name} declares input {inputs[0].describe()}, --input-shape is {','.join(map(str, given))}")
        inputs = (TensorSpec(inputs[0].name, ("batch", *given[1:]) if isinstance(declared[0], str) else given,
                             inputs[0].dtype),)
    text = token_inputs(inputs)
    if text and not options.tokenizer:
        raise InputShapeError(f"{path.name} takes token inputs ({', '.join(t.describe() for t in inputs)}), which "
                              "need a tokenizer to be fed real text",
                              "give --tokenizer FOLDER (the Hugging Face folder the model came from)")
    if text:
        inputs, outputs = _shared_token_length(inputs, outputs, _vocab_size(options.tokenizer))
    elif options.tokenizer:
        raise InputShapeError(f"--tokenizer feeds token inputs (input_ids, attention_mask, token_type_ids); "
                              f"{path.name} takes {', '.join(t.describe() for t in inputs)}", "drop --tokenizer")
    dims = _symbolic_sizes(path.name, inputs, options.input_shapes or {}, default_seq=16 if text else None)
    first = inputs[0]
    is_image = len(first.shape) == 4 and all(isinstance(d, int) for d in first.shape[1:]) and first.dtype == "float32"
    is_classifier = is_image and len(outputs) == 1 and len(outputs[0].shape) == 2
    n_classes = outputs[0].shape[1] if is_classifier and isinstance(outputs[0].shape[1], int) else None
    mean, std = options.mean, options.std
    if mean is not None and len(mean) == 1 and is_image:
        mean, std = mean * int(first.shape[1]), (std or (1.0,)) * int(first.shape[1])
    hints: dict[str, dict[str, Any]] = {}
    if text:  # a transformer: dynamic int8 by default; real text through the tokenizer when one is given
        hints["quantize"] = {"method": "dynamic"}
        if options.tokenizer:
            hints["text"] = {"tokenizer": str(Path(options.tokenizer).resolve())}
    spec = ModelSpec(
        name=path.stem, task="image-classification" if is_classifier else "custom", builder=_no_builder,
        inputs=inputs, outputs=outputs, dims=dims,
        preprocess=Preprocess(mean=mean, std=std),
        card=ModelCard(family="onnx", default_data="text-sentences" if options.tokenizer else
                       "photos" if is_image and _is_image_shape(first.shape) else "synthetic",
                       num_classes=n_classes),
        hints=hints,
    )
    size = sum(p.stat().st_size for p in (path, path.with_name(path.name + ".data")) if p.exists())
    record = StageRecord("load", {"onnx": str(path)}, {"size_bytes": size, "opset": _opset(model)})
    return Artifact(Format.ONNX, spec, path=path.resolve(), lineage=(record,))


TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
SEQ = "seq"


def token_inputs(inputs: tuple[TensorSpec, ...]) -> bool:
    """Inputs a tokenizer makes: integer ``[batch, tokens]`` tensors named as Hugging Face tokenizers name them."""
    return (any(t.name == "input_ids" for t in inputs)
            and all(t.name in TOKEN_INPUTS and len(t.shape) == 2 and t.dtype.startswith("int") for t in inputs))


def _vocab_size(tokenizer: str) -> int:
    """The tokenizer's vocabulary size: ids of generated inputs stay below it."""
    from dlcompress.toolkit.hf_folder import load_tokenizer

    return len(load_tokenizer(tokenizer))


def _shared_token_length(inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...],
                         vocab: int) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Token inputs share one length: their second dim (and outputs' dims of the same name) become ``seq``;
    generated ids stay in the vocabulary, masks are ones and token types zeros."""
    names = {t.shape[1] for t in inputs if isinstance(t.shape[1], str)}
    ranges = {"input_ids": (0, vocab), "attention_mask": (1, 2), "token_type_ids": (0, 1)}

    def rename(t: TensorSpec, value_range: tuple[float, float] | None = None) -> TensorSpec:
        shape = tuple(SEQ if d in names else d for d in t.shape)
        return dataclasses.replace(t, shape=shape, value_range=value_range or t.value_range)

    return (tuple(rename(t, ranges[t.name]) for t in inputs),
            tuple(rename(t) for t in outputs))


def _symbolic_sizes(file: str, inputs: tuple[TensorSpec, ...], given: dict[str, tuple[int, ...]],
                    default_seq: int | None) -> dict[str, int]:
    """Sizes of the inputs' symbolic dims other than ``batch``: from ``--input-shape NAME=DIMS``, else the default
    token length; anything else is asked for in one line."""
    known = {t.name: t for t in inputs}
    unknown = [n for n in given if n not in known]
    if unknown:
        raise InputShapeError(f"{file} has no input {unknown[0]!r}", f"its inputs: {', '.join(known)}")
    sizes: dict[str, int] = {}
    for name, shape in given.items():
        t = known[name]
        if len(shape) != len(t.shape):
            raise InputShapeError(f"--input-shape {name}={','.join(map(str, shape))} has {len(shape)} dims; "
                                  f"{file} declares {t.describe()}")
        for d, n in zip(t.shape[1:], shape[1:]):
            if isinstance(d, str):
                sizes[d] = n
            elif d != n:
                raise InputShapeError(f"--input-shape {name}={','.join(map(str, shape))} does not match {t.describe()}")
    if default_seq is not None:
        sizes.setdefault(SEQ, default_seq)
    for t in inputs:
        for d in t.shape[1:]:
            if isinstance(d, str) and d not in sizes:
                example = ",".join(str(x) if isinstance(x, int) else ("1" if i == 0 else "N") for i, x in enumerate(t.shape))
                raise InputShapeError(f"input {t.describe()} of {file} has a symbolic dim {d!r} with no size",
                                      f"give it with --input-shape {t.name}={example}")
    return sizes


def _is_image_shape(shape: tuple[Any, ...]) -> bool:
    """``[batch, C, H, W]`` with 1 or 3 channels and an image-sized H, W: real photos fit it."""
    return len(shape) == 4 and shape[1] in (1, 3) and all(isinstance(d, int) and d >= 8 for d in shape[2:])


def _no_builder() -> nn.Module:
    raise ModelLoadError("this model was loaded from an ONNX file: there is no torch module to build")


def _opset(model: Any) -> int | None:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


ONNX_DTYPES = {1: "float32", 10: "float16", 11: "float64", 6: "int32", 7: "int64", 9: "bool", 2: "uint8", 3: "int8", 16: "bfloat16"}


def _tensor_spec(value: Any) -> TensorSpec:
    t = value.type.tensor_type
    dims: list[int | str] = []
    for i, d in enumerate(t.shape.dim):
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(int(d.dim_value))
        else:
            dims.append("batch" if i == 0 else (d.dim_param or f"{value.name}_dim{i}"))
    dtype = ONNX_DTYPES.get(t.elem_type, "float32")
    rng = (0.0, 100.0) if dtype.startswith("int") else (0.0, 1.0)
    return TensorSpec(value.name, tuple(dims), dtype, rng)


# ---------------------------------------------------------------------------------------------------------
# BatchNorm statistics


def recalibrate_batchnorm(model: nn.Module, batches: list[torch.Tensor | tuple[torch.Tensor, ...]]) -> int:
    """Re-estimate BatchNorm running statistics on real inputs (cumulative average); returns #BN layers.

    A randomly initialised CNN has BN statistics (0, 1) that do not match its activations, which makes its
    outputs collapse towards zero. Re-estimating them on real images gives realistic activation ranges, so
    quantization and fidelity numbers mean something even without trained weights.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns or not batches:
        return 0
    saved = {m: (m.momentum, m.training) for m in bns}
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.train()  # only BN: the rest stays in eval (dropout off; detectors need targets in train mode)
    with torch.no_grad():
        for x in batches:
            model(*(x if isinstance(x, tuple) else (x,)))
    for m, (mom, training) in saved.items():
        m.momentum = mom
        m.train(training)
    return len(bns)
