"""AlphaGo policy/value/Zero networks, DQN and A3C: signature, complexity, ONNX export, and model facts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlcompress.zoo import MODELS
from tests.zoo.family_checks import (
    check_forward_matches_signature,
    check_tiny_entry,
    check_tiny_pairs,
    family_entries,
)

FAMILIES = {"alphago", "atari"}
TINY = family_entries(FAMILIES, tiny=True)
REAL = family_entries(FAMILIES, tiny=False)


def test_every_real_entry_has_a_tiny_variant():
    check_tiny_pairs(REAL, TINY, ["a3c", "alphago_policy", "alphago_value", "alphago_zero", "dqn"])


@pytest.mark.parametrize("name", TINY)
def test_tiny_forward_complexity_and_export(name, tmp_path):
    check_tiny_entry(name, tmp_path)


def test_policy_outputs_are_move_distributions():
    spec = MODELS.get("alphago_policy_tiny")
    x = torch.from_numpy(spec.example_inputs(3)["planes"])
    probs = spec.build().eval()(x).detach()
    assert probs.shape == (3, 361) and torch.allclose(probs.sum(1), torch.ones(3), atol=1e-5)
    zero = MODELS.get("alphago_zero_tiny")
    p, v = zero.build().eval()(torch.from_numpy(zero.example_inputs(2)["planes"]))
    assert p.shape == (2, 362) and torch.allclose(p.sum(1), torch.ones(2), atol=1e-5)  # 361 points + pass
    assert v.shape == (2, 1) and bool((v.abs() <= 1).all())  # tanh


def test_architectures_follow_the_papers():
    from dlcompress.zoo.reinforcement import DQN, AlphaGoPolicy, AlphaGoZeroNet

    policy = AlphaGoPolicy()
    convs = [m for m in policy.trunk.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 12 and convs[0].kernel_size == (5, 5) and convs[0].in_channels == 48
    assert all(c.out_channels == 192 and c.kernel_size == (3, 3) for c in convs[1:])
    assert policy.position_bias.shape == (361,)  # a separate bias for every board point
    zero = AlphaGoZeroNet()
    assert sum(1 for m in zero.modules() if type(m).__name__ == "ResidualBlock") == 19
    dqn = DQN()
    assert [(c.out_channels, c.kernel_size[0], c.stride[0]) for c in dqn.modules() if isinstance(c, torch.nn.Conv2d)] \
        == [(32, 8, 4), (64, 4, 2), (64, 3, 1)]
    assert dqn.trunk.fc[0].in_features == 64 * 7 * 7 and dqn.trunk.fc[0].out_features == 512


def test_random_init_value_network_is_not_constant():
    """He init keeps activations alive through the plain ReLU stack: the value differs between positions."""
    from dlcompress.toolkit.data import load_dataset

    spec = MODELS.get("alphago_value_tiny")
    planes = load_dataset("go-positions", spec=spec).test.batch(range(16))["planes"]
    values = []
    for seed in range(3):
        torch.manual_seed(seed)
        values.append(spec.build().eval()(torch.from_numpy(planes)).detach().numpy().ravel())
    assert all(np.std(v) > 1e-4 for v in values)


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL)
def test_real_size_builds_and_runs(name):
    check_forward_matches_signature(MODELS.get(name), batch=1)
