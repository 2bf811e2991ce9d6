"""Export validation reports the shapes of one batch: the first, or the first whose shapes disagree."""

from __future__ import annotations

import numpy as np
import torch

from dlcompress.exporters.validate import validate_outputs
from dlcompress.toolkit.artifact import Artifact, Format
from dlcompress.toolkit.runtimes import RuntimeOptions, open_runtime
from dlcompress.toolkit.spec import ModelSpec, TensorSpec


class FirstRowOnly(torch.nn.Module):
    """Agrees with the reference on a batch of one, drops the other rows of larger batches."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * 2)[:1]


class Double(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2


def _runtime(module: torch.nn.Module):
    spec = ModelSpec(name="m", task="custom", builder=lambda: module, inputs=(TensorSpec("x", ("batch", 3)),),
                     outputs=(TensorSpec("y", ("batch", 3)),))
    return open_runtime(Artifact(Format.TORCH, spec, model=module), RuntimeOptions(threads=1))


def test_shape_mismatch_on_a_later_batch_reports_that_batch():
    feeds = [{"x": np.ones((n, 3), np.float32)} for n in (1, 4, 2)]
    result = validate_outputs(_runtime(Double()), _runtime(FirstRowOnly()), feeds, 1e-5, 0.0)
    (check,) = result.checks
    assert not result.passed and check.problem == "shape (1, 3) != reference (4, 3)"
    assert (check.reference_shape, check.shape) == ((4, 3), (1, 3))


def test_agreeing_batches_report_the_first_batch_shapes():
    feeds = [{"x": np.full((n, 3), n, np.float32)} for n in (2, 5)]
    result = validate_outputs(_runtime(Double()), _runtime(Double()), feeds, 1e-6, 0.0)
    (check,) = result.checks
    assert result.passed and (check.reference_shape, check.shape) == ((2, 3), (2, 3)) and check.max_abs_diff == 0.0
