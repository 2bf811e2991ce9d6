"""GCN: signature, complexity, ONNX export with a dynamic node count, the normalised propagation rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlcompress.zoo import MODELS
from tests.zoo.family_checks import (
    check_forward_matches_signature,
    check_tiny_entry,
    family_entries,
)

TINY = family_entries({"gcn"}, tiny=True)
REAL = family_entries({"gcn"}, tiny=False)


def test_every_real_entry_has_a_tiny_variant():
    assert REAL == ["gcn"] and TINY == ["gcn_tiny"] and MODELS.get("gcn_tiny").card.tiny_of == "gcn"


@pytest.mark.parametrize("name", TINY)
def test_tiny_forward_complexity_and_export(name, tmp_path):
    check_tiny_entry(name, tmp_path)


def test_propagation_is_the_symmetric_normalised_adjacency_with_self_loops():
    from dlcompress.zoo.graph import normalized_adjacency, normalized_propagation

    rng = np.random.default_rng(0)
    a = (rng.random((6, 6)) < 0.4).astype(np.float32)
    a = np.triu(a, 1)
    a = a + a.T
    a_hat = a + np.eye(6)
    d = a_hat.sum(1)
    ref = a_hat / np.sqrt(np.outer(d, d))
    got = normalized_adjacency(torch.from_numpy(a)[None])[0].numpy()
    assert np.allclose(got, ref, atol=1e-6)
    h = rng.normal(size=(6, 3)).astype(np.float32)
    assert np.allclose(normalized_propagation(torch.from_numpy(a)[None], torch.from_numpy(h)[None])[0].numpy(),
                       ref @ h, atol=1e-5)


def test_padding_nodes_do_not_change_real_nodes():
    spec = MODELS.get("gcn_tiny")
    torch.manual_seed(0)
    model = spec.build().eval()
    x = torch.rand(1, 10, 34)
    a = (torch.rand(1, 10, 10) < 0.3).float()
    a = ((a + a.transpose(1, 2)) > 0).float() * (1 - torch.eye(10))
    y = model(x, a)
    xp = torch.cat([x, torch.rand(1, 4, 34)], 1)
    ap = torch.zeros(1, 14, 14)
    ap[:, :10, :10] = a  # isolated padding nodes
    assert torch.allclose(model(xp, ap)[:, :10], y, atol=1e-6)


def test_kipf_configuration():
    from dlcompress.zoo.graph import GCN

    model = GCN()
    assert (model.layer1.linear.in_features, model.layer1.linear.out_features, model.layer2.linear.out_features) \
        == (1433, 16, 7)
    assert model.drop.p == 0.5


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL)
def test_real_size_builds_and_runs(name):
    check_forward_matches_signature(MODELS.get(name), batch=1)
