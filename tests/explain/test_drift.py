"""The drift metrics of ``dlcompress explain`` on inputs whose answers are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dlcompress.toolkit.explain.drift import (
    auc,
    deletion_curve,
    insertion_curve,
    mean_of,
    ranks,
    spearman,
    top_k_iou,
    top_pixels,
)


def test_ranks_share_ties():
    assert ranks(np.array([10.0, 30.0, 20.0, 30.0])).tolist() == [1.0, 3.5, 2.0, 3.5]


def test_spearman_known_values():
    a = np.arange(16.0).reshape(4, 4)
    assert spearman(a, a) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert spearman(a, np.exp(a)) == pytest.approx(1.0)  # any increasing transform keeps the ranks
    # x = 1..5, y = 2,1,4,3,5: sum d^2 = 4, rho = 1 - 6*4 / (5*24) = 0.8
    assert spearman(np.array([1, 2, 3, 4, 5.0]), np.array([2, 1, 4, 3, 5.0])) == pytest.approx(0.8)
    # with ties: ranks x = 1,2.5,2.5,4 and y = 1,2,3,4 -> pearson of the ranks = 4.5/sqrt(4.5*5)
    assert spearman(np.array([1, 2, 2, 3.0]), np.array([1, 2, 3, 4.0])) == pytest.approx(4.5 / math.sqrt(4.5 * 5))
    assert math.isnan(spearman(np.ones((2, 2)), a[:2, :2]))


def test_spearman_rejects_different_shapes():
    with pytest.raises(ValueError):
        spearman(np.zeros((2, 2)), np.zeros((2, 3)))


def test_top_k_iou_known_values():
    a = np.array([[4.0, 3.0], [2.0, 1.0]])
    b = np.array([[4.0, 1.0], [3.0, 2.0]])
    assert top_pixels(a, 0.5).tolist() == [0, 1]
    assert top_k_iou(a, a, 0.5) == 1.0
    assert top_k_iou(a, b, 0.5) == pytest.approx(1 / 3)  # {0, 1} vs {0, 2}
    assert top_k_iou(a, -a, 0.5) == 0.0
    assert top_k_iou(a, b, 0.25) == 1.0  # both rank pixel 0 first
    assert top_k_iou(a, b, 0.3) == pytest.approx(1 / 3)  # ceil(0.3 * 4) = 2 pixels each
    with pytest.raises(ValueError):
        top_k_iou(a, b, 0.0)


def test_auc_trapezoid():
    assert auc(np.ones(5)) == pytest.approx(1.0)
    assert auc(np.linspace(1, 0, 25)) == pytest.approx(0.5)
    assert auc(np.array([1.0, 0, 0, 0, 0])) == pytest.approx(0.125)


def test_deletion_and_insertion_find_the_pixel_that_matters():
    """The score is the value of one pixel: a map that ranks it first deletes it at the first step (AUC 0.5/steps)
    and inserts it at the first step (AUC 1 - 0.5/steps); a map that ranks it last does the opposite."""
    image = np.full((4, 4, 1), 1.0, dtype=np.float32)

    def score(batch: np.ndarray) -> np.ndarray:
        return batch[:, 1, 2, 0]

    first = np.zeros((4, 4))
    first[1, 2] = 1.0
    last = -first
    steps = 16
    d_first = deletion_curve(score, image, first, steps=steps)
    assert d_first.tolist() == [1.0] + [0.0] * steps
    assert auc(d_first) == pytest.approx(0.5 / steps)
    assert auc(deletion_curve(score, image, last, steps=steps)) == pytest.approx(1 - 0.5 / steps)
    assert auc(insertion_curve(score, image, first, steps=steps)) == pytest.approx(1 - 0.5 / steps)
    assert auc(insertion_curve(score, image, last, steps=steps)) == pytest.approx(0.5 / steps)


def test_deletion_of_an_even_image_is_linear():
    image = np.ones((6, 6, 3), dtype=np.float32)
    curve = deletion_curve(lambda b: b.mean(axis=(1, 2, 3)), image, np.random.default_rng(0).random((6, 6)), steps=36)
    assert np.allclose(curve, np.linspace(1, 0, 37))
    assert auc(curve) == pytest.approx(0.5)


def test_mean_of_skips_missing():
    assert mean_of([1.0, None, float("nan"), 3.0]) == 2.0
    assert mean_of([None]) is None
