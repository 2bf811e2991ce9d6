"""``dlcompress prune``: structured channel pruning (or unstructured sparsity) of a torch model, optionally
fine-tuned between steps and recovered by distillation from the unpruned model; a before/after report with
params, MACs and measured latency, the pruned checkpoint and its replayable plan."""

from __future__ import annotations

from dataclasses import dataclass, field

from dlcompress.recipes.pipeline import (
    JobOptions,
    PipelineRequest,
    PipelineResult,
    StepOptions,
    run_pipeline,
)
from dlcompress.toolkit.stages.distill import DistillOptions
from dlcompress.toolkit.stages.prune import PruneOptions
from dlcompress.toolkit.training import TrainOptions


@dataclass(frozen=True)
class PruneRequest:
    """``finetune``: training after each pruning step (None = none); ``recover``: distillation from the
    unpruned model afterwards (None = none), with ``distill`` options."""

    model: str
    prune: PruneOptions
    job: JobOptions = field(default_factory=JobOptions)
    finetune: TrainOptions | None = None
    recover: TrainOptions | None = None
    distill: DistillOptions = field(default_factory=DistillOptions)

    def pipeline(self) -> PipelineRequest:
        steps = ("prune", "distill") if self.recover is not None else ("prune",)
        options = StepOptions(prune=self.prune, finetune=self.finetune, distill=self.distill,
                              train=self.recover or TrainOptions())
        return PipelineRequest(self.model, steps, options, self.job, command="prune")


def prune(request: PruneRequest) -> PipelineResult:
    """Prune, (recover), measure original vs pruned side by side, write the folder."""
    return run_pipeline(request.pipeline())
