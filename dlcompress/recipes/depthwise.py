"""``dlcompress depthwise``: replace dense KxK convolutions by depthwise KxK + pointwise 1x1 (initialised by a
per-channel rank-1 SVD of the original kernel), optionally recover with distillation from the original model;
a report with MACs per replaced layer (H·W·K·K·C·M vs H·W·K·K·C + H·W·C·M), totals and measured latency."""

from __future__ import annotations

from dataclasses import dataclass, field

from dlcompress.recipes.pipeline import (
    JobOptions,
    PipelineRequest,
    PipelineResult,
    StepOptions,
    run_pipeline,
)
from dlcompress.toolkit.stages.depthwise import DepthwiseOptions
from dlcompress.toolkit.stages.distill import DistillOptions
from dlcompress.toolkit.training import TrainOptions


@dataclass(frozen=True)
class DepthwiseRequest:
    """``recover``: distillation from the original model after the replacement (None = none)."""

    model: str
    depthwise: DepthwiseOptions = field(default_factory=DepthwiseOptions)
    job: JobOptions = field(default_factory=JobOptions)
    recover: TrainOptions | None = None
    distill: DistillOptions = field(default_factory=DistillOptions)
    nproc: int = 1

    def pipeline(self) -> PipelineRequest:
        steps = ("depthwise", "distill") if self.recover is not None else ("depthwise",)
        options = StepOptions(depthwise=self.depthwise, distill=self.distill, train=self.recover or TrainOptions(),
                              nproc=self.nproc)
        return PipelineRequest(self.model, steps, options, self.job, command="depthwise")


def depthwise(request: DepthwiseRequest) -> PipelineResult:
    """Replace, (recover), measure original vs replaced side by side, write the folder."""
    return run_pipeline(request.pipeline())
