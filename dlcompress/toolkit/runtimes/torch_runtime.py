"""Eager PyTorch runtime (the reference for validation)."""

from __future__ import annotations

import numpy as np
import torch

from dlcompress.toolkit.artifact import Artifact, Format
from dlcompress.toolkit.errors import InferenceError, first_line
from dlcompress.toolkit.runtimes.base import (
    RUNTIMES,
    Runtime,
    RuntimeOptions,
    feed_summary,
)


@RUNTIMES.register("torch")
class TorchRuntime(Runtime):
    """Runs a torch artifact in eval mode under ``torch.inference_mode``."""

    name = "torch"
    formats = frozenset({Format.TORCH})

    def __init__(self, artifact: Artifact, options: RuntimeOptions) -> None:
        super().__init__(artifact, options)
        self.device = torch.device(options.device)
        self.model = artifact.model.eval().to(self.device)  # type: ignore[union-attr]
        if self.device.type == "cpu":
            torch.set_num_threads(options.num_threads)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.device.type == "cpu" and torch.get_num_threads() != self.options.num_threads:
            torch.set_num_threads(self.options.num_threads)  # one process may hold 1-thread and all-core variants
        args = [torch.from_numpy(np.ascontiguousarray(a)).to(self.device) for a in self.arrays(feeds)]
        try:
            with torch.inference_mode():
                out = self.model(*args)
        except Exception as e:  # noqa: BLE001 - a model's forward raises anything on inputs it cannot take
            raise InferenceError(f"torch failed to run {self.artifact.spec.name}: {type(e).__name__}: {first_line(e, 300)}",
                                 f"inputs given: {feed_summary(feeds)}") from None
        outs = out if isinstance(out, (tuple, list)) else (out,)
        if isinstance(out, dict):
            outs = tuple(out.values())
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return {n: o.detach().float().cpu().numpy() if o.is_floating_point() else o.detach().cpu().numpy()
                for n, o in zip(self.output_names, outs)}

    def describe(self) -> dict[str, object]:
        params = list(self.model.parameters())
        precision = str(params[0].dtype).removeprefix("torch.") if params else self.artifact.precision
        return {**super().describe(), "version": torch.__version__, "precision": precision}
