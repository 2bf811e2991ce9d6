"""Artifact: a model in one format, the spec it came from, and the lineage of stages that made it."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from dlcompress.toolkit.spec import ModelSpec


class Format(StrEnum):
    """Where a model lives: a torch module in memory, or a file for a deployment runtime."""

    TORCH = "torch"
    ONNX = "onnx"
    OPENVINO = "openvino"
    LITERT = "litert"
    EXECUTORCH = "executorch"
    KERAS = "keras"
    """A Keras file or TensorFlow SavedModel folder (the source of the formats above, never a deployment target)."""


@dataclass(frozen=True)
class StageRecord:
    """One step of an artifact's history: what ran, with which parameters, and what it changed."""

    stage: str
    params: dict[str, Any] = field(default_factory=dict)
    effect: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Artifact:
    """A model in one :class:`Format`. Stages return new artifacts and never change their input.

    ``model`` holds the ``torch.nn.Module`` for :attr:`Format.TORCH`; ``path`` the file for the others.
    """

    format: Format
    spec: ModelSpec
    model: torch.nn.Module | None = None
    path: Path | None = None
    precision: str = "fp32"
    lineage: tuple[StageRecord, ...] = ()
    source: Artifact | None = field(default=None, repr=False, compare=False)
    """The artifact this one was exported from (e.g. the torch model behind an ONNX or LiteRT file)."""
    postprocess: Any = field(default=None, repr=False, compare=False)
    """A ``HostPostprocess`` (:mod:`dlcompress.toolkit.host_postprocess`, which builds on this module): host code
    after the file's outputs, such as a detector's decoding and NMS, which mobile formats cannot capture. The
    artifact's spec then names the file's raw outputs."""

    def __post_init__(self) -> None:
        if self.format is Format.TORCH and self.model is None:
            raise ValueError("a torch artifact needs a model")
        if self.format is not Format.TORCH and self.path is None:
            raise ValueError(f"a {self.format} artifact needs a path")

    def derive(self, record: StageRecord, **changes: Any) -> Artifact:
        """A new artifact with ``changes`` applied and ``record`` appended to the lineage."""
        return dataclasses.replace(self, lineage=(*self.lineage, record), **changes)

    @property
    def size_bytes(self) -> int | None:
        """Bytes on disk of the artifact's files (None for in-memory torch models)."""
        if self.path is None:
            return None
        files = [self.path, *sibling_files(self.path)]
        return sum(p.stat().st_size for p in files if p.exists())

    def lineage_json(self) -> list[dict[str, Any]]:
        return [r.to_json() for r in self.lineage]


def sibling_files(path: Path) -> list[Path]:
    """Files that belong to a model file: ONNX external data, OpenVINO ``.bin`` weights."""
    candidates = {".xml": [path.with_suffix(".bin")], ".onnx": [path.with_name(path.name + ".data")]}
    return [p for p in candidates.get(path.suffix, []) if p.exists() and p != path]
