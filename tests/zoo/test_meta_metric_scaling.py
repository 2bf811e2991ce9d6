"""MAML adaptation (first and second order) on real digit tasks, metric-learning losses, EfficientNet's
compound-scaling rule, and the in-house architectures' defining properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlcompress.toolkit.data import ImageTransform, load_dataset


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, np.ndarray]:
    """sklearn's handwritten digits (real data), as 1x28x28 tensors in [0, 1]."""
    data = load_dataset("digits")
    x = ImageTransform(1, (28, 28))(data.train.batch(np.arange(len(data.train))))
    return torch.from_numpy(x), data.train.labels


def _task(x: torch.Tensor, y: np.ndarray, classes: list[int], shots: int, queries: int, seed: int):  # noqa: ANN202
    from dlcompress.zoo.meta import Task

    rng = np.random.default_rng(seed)
    parts = {"sx": [], "sy": [], "qx": [], "qy": []}
    for way, c in enumerate(classes):
        idx = rng.permutation(np.flatnonzero(y == c))[: shots + queries]
        parts["sx"].append(x[idx[:shots]])
        parts["qx"].append(x[idx[shots:]])
        parts["sy"].append(torch.full((shots,), way))
        parts["qy"].append(torch.full((queries,), way))
    return Task(*(torch.cat(parts[k]) for k in ("sx", "sy", "qx", "qy")))


@pytest.mark.parametrize("first_order", [False, True])
def test_maml_adaptation_lowers_the_support_loss(digits, first_order):
    from dlcompress.zoo import MODELS
    from dlcompress.zoo.meta import MAMLOptions, functional_forward, maml_adapt

    torch.manual_seed(0)
    model = MODELS.get("maml_convnet4_tiny").build().train()
    task = _task(*digits, classes=[3, 7, 1, 8, 5], shots=5, queries=5, seed=1)
    loss = torch.nn.functional.cross_entropy
    before = loss(model(task.support_x), task.support_y).item()
    snapshot = {n: p.detach().clone() for n, p in model.named_parameters()}
    fast = maml_adapt(model, task.support_x, task.support_y, MAMLOptions(steps=5, inner_lr=0.5, first_order=first_order))
    after = loss(functional_forward(model, fast, task.support_x), task.support_y).item()
    assert after < 0.8 * before
    assert all(torch.equal(p, snapshot[n]) for n, p in model.named_parameters()), "model weights untouched"
    assert not torch.equal(fast["classifier.weight"], snapshot["classifier.weight"])
    # the adapted weights stay connected to the meta-parameters
    query = loss(functional_forward(model, fast, task.query_x), task.query_y)
    grads = torch.autograd.grad(query, list(model.parameters()))
    assert all(torch.isfinite(g).all() for g in grads) and sum(g.abs().sum() for g in grads) > 0


def test_second_order_meta_gradient_differs_from_first_order(digits):
    from dlcompress.zoo.meta import ConvNet4, MAMLOptions, maml_meta_loss

    torch.manual_seed(0)
    model = ConvNet4(5, 1, 28, width=8).train()
    tasks = [_task(*digits, classes=[0, 1, 2, 3, 4], shots=3, queries=3, seed=s) for s in range(2)]
    grads = {}
    for fo in (False, True):
        loss = maml_meta_loss(model, tasks, MAMLOptions(steps=2, inner_lr=0.3, first_order=fo))
        grads[fo] = torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(model.parameters()))])
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads.values())
    assert not torch.allclose(grads[False], grads[True])  # second order adds the Hessian-vector terms


def test_contrastive_and_triplet_losses():
    from dlcompress.zoo.metric import contrastive_loss, triplet_loss

    d = torch.tensor([0.0, 0.5, 2.0])
    assert contrastive_loss(d, torch.tensor([1, 1, 1])).item() == pytest.approx((0 + 0.25 + 4) / 3)
    assert contrastive_loss(d, torch.tensor([0, 0, 0]), margin=1.0).item() == pytest.approx((1 + 0.25 + 0) / 3)
    assert triplet_loss(torch.tensor([0.1, 0.5]), torch.tensor([0.5, 0.4]), margin=0.2).item() == pytest.approx(0.15)


def test_siamese_and_triplet_share_one_embedding_net_and_learn_on_digits(digits):
    from dlcompress.zoo import MODELS
    from dlcompress.zoo.metric import contrastive_loss, sample_triplets, triplet_loss

    torch.manual_seed(0)
    x, y = digits
    triplet = MODELS.get("triplet_net_tiny").build()
    a, p, n, d_ap, d_an = triplet(x[:4], x[4:8], x[:4])
    assert torch.allclose(a, n) and torch.allclose(d_ap, torch.linalg.norm(a - p, dim=1), atol=1e-5)
    siamese = MODELS.get("siamese_net_tiny").build()
    left, right, dist = siamese(x[:4], x[:4])
    assert torch.allclose(left, right) and dist.max() < 1e-4
    assert torch.allclose(contrastive_loss(dist, torch.ones(4)), torch.tensor(0.0), atol=1e-8)

    idx = torch.from_numpy(sample_triplets(y, 1200, seed=0))
    assert (y[idx[:, 0]] == y[idx[:, 1]]).all() and (y[idx[:, 0]] != y[idx[:, 2]]).all()
    opt = torch.optim.Adam(triplet.parameters(), lr=3e-3)
    losses = []
    for i in range(0, 1200, 64):
        b = idx[i:i + 64]
        *_, d_ap, d_an = triplet(x[b[:, 0]], x[b[:, 1]], x[b[:, 2]])
        loss = triplet_loss(d_ap, d_an)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-4:]) < 0.6 * np.mean(losses[:4])


def test_compound_scaling_rule():
    from dlcompress.zoo.vision import compound_scaling

    b0 = compound_scaling(0)
    assert (b0.depth, b0.width, b0.resolution) == (1.0, 1.0, 224)
    for phi in range(1, 8):
        s = compound_scaling(phi)
        assert s.depth == pytest.approx(1.2**phi) and s.width == pytest.approx(1.1**phi)
        assert s.resolution == round(224 * 1.15**phi)
        assert s.flops_factor == pytest.approx(1.92**phi, rel=0.01)  # alpha * beta^2 * gamma^2 = 1.92 ~ 2


def test_efficientnets_follow_the_rule():
    import torchvision

    from dlcompress.toolkit.complexity import spec_complexity
    from dlcompress.zoo import MODELS
    from dlcompress.zoo.vision import build_efficientnet

    with torch.device("meta"):  # phi=0 is exactly torchvision's B0
        ours, tv = build_efficientnet(0).state_dict(), torchvision.models.efficientnet_b0().state_dict()
    assert [(k, v.shape) for k, v in ours.items()] == [(k, v.shape) for k, v in tv.items()]
    for phi in range(1, 8):
        assert MODELS.get(f"efficientnet_b{phi}").image_shape[1] == round(224 * 1.15**phi)
    macs = [spec_complexity(MODELS.get(f"efficientnet_b{phi}"))[1] for phi in range(5)]  # B5..B7: zoo list
    for phi in range(1, 5):
        assert 1.5 < macs[phi] / macs[phi - 1] < 2.7  # ~2x per step (layer counts round up)


def test_preact_and_pyramidnet_structure():
    from dlcompress.toolkit.complexity import count_params
    from dlcompress.zoo.vision import PreActBasicBlock, PyramidBlock, PyramidNet

    block = PreActBasicBlock(8, 8)
    names = [n for n, _ in block.named_children()]
    assert names.index("bn1") < names.index("conv1") < names.index("bn2") < names.index("conv2")  # BN-ReLU-conv
    net = PyramidNet(depth=110, alpha=48)
    widths = [b.body[1].out_channels for b in net.modules() if isinstance(b, PyramidBlock)]
    assert len(widths) == 54 and widths[0] == 17 and widths[-1] == 64
    assert sorted(widths) == widths and len(set(widths)) > 40  # +0.89 channels per block, rounded
    assert 1.6e6 < count_params(net) < 1.8e6  # the paper's PyramidNet-110 (alpha 48): 1.7M
