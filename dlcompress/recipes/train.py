"""``dlcompress train``: train a zoo entry (adapted to the dataset) and save a checkpoint that
``--weights`` understands, with the build arguments needed to rebuild the same architecture."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch

from dlcompress.recipes.loading import load_model
from dlcompress.toolkit.checkpoint import CHECKPOINT_META_KEY
from dlcompress.toolkit.data import ImageTransform, load_dataset
from dlcompress.toolkit.errors import DatasetError, ModelLoadError
from dlcompress.toolkit.model_options import ModelOptions
from dlcompress.toolkit.outputs import atomic_file, check_writable
from dlcompress.toolkit.progress import step
from dlcompress.toolkit.training import History, TrainOptions, fit


@dataclass(frozen=True)
class TrainRequest:
    model: str
    data: str = "fashion-mnist"
    out: Path = Path("checkpoint.pt")
    options: TrainOptions = field(default_factory=TrainOptions)
    model_options: ModelOptions = field(default_factory=ModelOptions)
    overwrite: bool = False
    threads: int | None = None


@dataclass(frozen=True)
class TrainResult:
    history: History
    checkpoint: Path
    metadata: dict[str, object]


def train(request: TrainRequest) -> TrainResult:
    """Train and write the checkpoint atomically (state_dict + ``dlcompress`` metadata)."""
    check_writable(request.out, request.overwrite)
    if request.threads:
        torch.set_num_threads(request.threads)
    data = load_dataset(request.data)
    if not data.labelled:
        raise DatasetError(f"{data.name} has no labels to train on", "use fashion-mnist, digits or an ImageFolder")
    artifact = load_model(request.model, request.model_options, data)
    if artifact.model is None:
        raise ModelLoadError(f"{request.model} is not a torch model and cannot be trained")
    spec = artifact.spec
    if not spec.is_image_model or spec.task != "image-classification":
        raise ModelLoadError(f"dlcompress train supports image classifiers; {spec.name} is {spec.task}")
    transform = ImageTransform.for_spec(spec)
    step(f"training {spec.name} ({spec.signature()}) on {data.name}: {request.options.epochs} epoch(s)")
    history = fit(artifact.model, data.train, transform, request.options, data.test)
    pre = spec.preprocess
    meta = {
        "model": spec.name, "build_args": dict(spec.build_args), "dataset": data.name,
        "mean": list(pre.mean) if pre.mean else None, "std": list(pre.std) if pre.std else None,
        "epochs": request.options.epochs, "training": dataclasses.asdict(request.options),
        "test_top1": history.final_top1, "history": history.to_json(), "format": 1,
    }
    with atomic_file(request.out, request.overwrite) as tmp:
        torch.save({"state_dict": artifact.model.state_dict(), CHECKPOINT_META_KEY: meta}, tmp)
    return TrainResult(history, request.out, meta)
