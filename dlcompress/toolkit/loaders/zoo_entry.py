"""A zoo entry as a torch artifact: built (seeded, adapted to the data), with its pretrained weights
(a checkpoint file, a torchvision weights name found in the local hub cache) and replayed structure edits."""

from __future__ import annotations

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
    WeightsError,
)
from dlcompress.toolkit.model_options import INIT_SEED, ModelOptions
from dlcompress.toolkit.spec import ModelSpec, image_classifier_io


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


