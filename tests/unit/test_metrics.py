"""Fidelity between a reference output and a compressed model's output."""

import numpy as np
import pytest

from dlcompress.toolkit.metrics import fidelity


def test_per_sample_cosine_agreement_and_diffs():
    ref = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    out = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    f = fidelity(ref, out, classification=True)
    assert f.cosine == pytest.approx(0.5) and f.top1_agreement == 0.5
    assert f.max_abs_diff == 3.0 and f.samples == 2


def test_one_value_per_sample_uses_the_batch_cosine():
    """The cosine of two scalars is their sign agreement: one flipped small logit would read as cosine 0.75."""
    ref = np.array([[2.0], [1.0], [-1.5], [0.01]])
    out = np.array([[2.1], [0.9], [-1.4], [-0.01]])
    f = fidelity(ref, out, classification=False)
    expected = float(ref.ravel() @ out.ravel() / np.linalg.norm(ref) / np.linalg.norm(out))
    assert f.cosine == pytest.approx(expected) and f.cosine > 0.99 and f.samples == 4
