"""The stage acceptance criteria of ``benchmarks/stages_acceptance.py`` as slow tests, on a small configuration:
small_cnn trained by ``dlcompress train`` (the session fixture: one epoch on 12k Fashion-MNIST images) is the
unpruned model; each compressed model recovers by one epoch of distillation from it on as many images as it was
trained on (12k), and both are scored on the same 2000 held-out images.

- pruned to <= 50% of the MACs: top-1 within 1.5 points of the unpruned model after distillation;
- depthwise-separable 3x3 convs (conv MACs cut >= 5x): top-1 within 3 points after distillation.

(The latency criteria of the benchmark stay in the benchmark: no timed assertions in tests.)
"""

from __future__ import annotations

import pytest

from dlcompress.recipes.loading import load_model
from dlcompress.toolkit.data import load_dataset
from dlcompress.toolkit.model_options import ModelOptions
from dlcompress.toolkit.stages.depthwise import DepthwiseOptions, replace_depthwise
from dlcompress.toolkit.stages.distill import DistillOptions, distill
from dlcompress.toolkit.stages.prune import PruneOptions, prune
from dlcompress.toolkit.training import TrainOptions

pytestmark = pytest.mark.slow

RECOVERY = TrainOptions(epochs=1, train_samples=12_000)
EVAL = DistillOptions(eval_samples=2000)


@pytest.fixture(scope="module")
def fmnist():  # noqa: ANN201
    return load_dataset("fashion-mnist")


@pytest.fixture(scope="module")
def unpruned(trained_small_cnn, fmnist):  # noqa: ANN001, ANN201
    return load_model("small_cnn", ModelOptions(weights=str(trained_small_cnn)), fmnist)


def _recover(student, teacher, fmnist) -> dict:  # noqa: ANN001
    effect = distill(student, teacher, fmnist, RECOVERY, EVAL).lineage[-1].effect
    assert effect["eval_samples"] == 2000 and effect["teacher"] == "small_cnn"
    assert effect["teacher_top1"] > 0.7, effect  # the unpruned model really learned (measured 0.766)
    return effect


def test_pruned_half_the_macs_keeps_top1_within_1_5_points(unpruned, fmnist):
    """Measured: MACs ratio 0.498; top-1 0.368 right after pruning, 0.773 after distillation against 0.766
    unpruned (+0.7 points; -0.7 with 6k recovery images, -1.8 with 3k)."""
    pruned = prune(unpruned, PruneOptions(target_macs=0.5))
    assert pruned.lineage[-1].effect["macs_ratio"] <= 0.5
    e = _recover(pruned, unpruned, fmnist)
    assert e["student_top1_after"] > e["student_top1_before"] + 0.2, e  # distillation did the recovering
    assert e["gap_to_teacher"] >= -0.015, e


def test_depthwise_cuts_conv_macs_5x_and_keeps_top1_within_3_points(unpruned, fmnist):
    """Measured: conv MACs cut 6.7x (model MACs ratio 0.15); top-1 0.291 right after the replacement, 0.763 after
    distillation against 0.766 (-0.25 points; -2.5 with 6k recovery images, -5 with 3k)."""
    replaced = replace_depthwise(unpruned, DepthwiseOptions(kernels=(3,)))
    assert replaced.lineage[-1].effect["conv_macs_reduction"] >= 5
    e = _recover(replaced, unpruned, fmnist)
    assert e["student_top1_after"] > e["student_top1_before"] + 0.2, e
    assert e["gap_to_teacher"] >= -0.03, e
