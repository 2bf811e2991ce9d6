"""``dlcompress distill``: train a student (a pruned or depthwise checkpoint, or a smaller zoo entry) against
a teacher with soft targets (temperature-scaled KL) plus hard labels, optionally matching named features;
``--nproc N`` or torchrun runs it data-parallel (DDP). Reports student before/after (and the teacher's top-1)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dlcompress.recipes.pipeline import (
    JobOptions,
    PipelineRequest,
    PipelineResult,
    StepOptions,
    TeacherOptions,
    run_pipeline,
)
from dlcompress.toolkit.errors import DLCompressError
from dlcompress.toolkit.stages.distill import DistillOptions
from dlcompress.toolkit.training import TrainOptions


@dataclass(frozen=True)
class DistillRequest:
    """The student is ``model`` (+ ``job.model_options.weights``); ``teacher`` says which model teaches."""

    model: str
    teacher: TeacherOptions
    job: JobOptions = field(default_factory=JobOptions)
    train: TrainOptions = field(default_factory=TrainOptions)
    distill: DistillOptions = field(default_factory=DistillOptions)
    nproc: int = 1
    device: str = "cpu"

    def pipeline(self) -> PipelineRequest:
        if self.teacher.model is None and self.teacher.weights is None:
            raise DLCompressError("distill needs a teacher",
                                  "pass --teacher NAME and/or --teacher-weights CHECKPOINT (e.g. the unpruned model)")
        options = StepOptions(distill=self.distill, train=self.train, teacher=self.teacher, nproc=self.nproc,
                              device=self.device)
        return PipelineRequest(self.model, ("distill",), options, self.job, command="distill")


def distill(request: DistillRequest) -> PipelineResult:
    """Distill, measure the student before and after side by side, write the folder (rank 0)."""
    return run_pipeline(request.pipeline())
