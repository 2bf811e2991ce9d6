"""Host post-processing: a model cut where a mobile format's capture stops, with the rest run as host code.

``torch.export`` (LiteRT, ExecuTorch) cannot capture what has data-dependent shapes, such as a detector's
score filtering and non-maximum suppression. Those models are cut there: the network up to its raw head
outputs is exported, and the decoding (anchors, box coder, NMS, rescaling to the input image) runs on the
host, as it does in a phone app. A spec offers the cut through its hint ``host_postprocess`` for a format: a
function ``(model, spec) -> HostSplit``; a spec that has no such cut says why in its hint ``not_capturable``.

The exported artifact carries a :class:`HostPostprocess`; :func:`~dlcompress.toolkit.runtimes.open_runtime`
then wraps its runtime in :class:`PostprocessedRuntime`, so validation against torch, evaluation, timing (host
code included) and reports see the same outputs as the torch model's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dlcompress.toolkit.artifact import Artifact, Format
from dlcompress.toolkit.errors import ExportError
from dlcompress.toolkit.runtimes.base import Runtime

if TYPE_CHECKING:
    import torch

    from dlcompress.toolkit.spec import ModelSpec, TensorSpec

Decode = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


@dataclass(frozen=True)
class HostSplit:
    """What a spec's ``host_postprocess`` hint returns: the network to export, its raw outputs, the host code
    that turns them into the spec's outputs, and what that code does (for reports and bundles)."""

    network: torch.nn.Module
    outputs: tuple[TensorSpec, ...]
    decode: Decode
    description: str


@dataclass(frozen=True)
class HostPostprocess:
    """Carried by an exported artifact whose file stops before its spec's outputs: ``spec`` is the model's own
    (decoded outputs), ``decode`` maps the file's outputs to them."""

    spec: ModelSpec
    decode: Decode
    description: str


def split_for(artifact: Artifact, fmt: str) -> tuple[Artifact, HostPostprocess] | None:
    """The torch network to export for ``fmt`` and the host code after it, when the spec offers a cut for
    ``fmt``; None otherwise (the whole model is exported)."""
    why = artifact.spec.hint(fmt, "not_capturable")
    if why:  # known before a torch.export attempt that would take half a minute to fail
        raise ExportError(f"{fmt} export of {artifact.spec.name}: {why}",
                          "use --format onnx or openvino, whose TorchScript route takes the whole model")
    make = artifact.spec.hint(fmt, "host_postprocess")
    if make is None or artifact.format is not Format.TORCH:
        return None
    split: HostSplit = make(artifact.model, artifact.spec)
    hints = {k: {h: v for h, v in group.items() if h != "host_postprocess"} for k, group in artifact.spec.hints.items()}
    net_spec = artifact.spec.replace(outputs=split.outputs, hints=hints)
    network = Artifact(Format.TORCH, net_spec, model=split.network.eval(), lineage=artifact.lineage)
    return network, HostPostprocess(artifact.spec, split.decode, split.description)


class PostprocessedRuntime(Runtime):
    """A runtime of a cut model followed by its host code: outputs as the model's own spec names them."""

    def __init__(self, inner: Runtime, post: HostPostprocess) -> None:
        super().__init__(dataclasses.replace(inner.artifact, spec=post.spec), inner.options)
        self.inner, self.post = inner, post
        self.name = inner.name
        self.precisions = inner.precisions

    @property
    def input_names(self) -> list[str]:
        return self.inner.input_names

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.post.decode(self.inner.run(feeds))

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "host_postprocess": self.post.description}

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:  # runtime-specific extras (integer_io, ...) of the inner runtime
        if name in ("inner", "post"):
            raise AttributeError(name)
        return getattr(self.inner, name)
