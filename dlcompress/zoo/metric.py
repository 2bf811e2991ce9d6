"""Metric learning: a Siamese and a Triplet network sharing one embedding net, with their losses.

Both wrap one :class:`EmbeddingNet` (the same weights embed every input) and return the embeddings plus the
Euclidean distances the losses use, so an exported or quantized model still gives distances directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from dlcompress.toolkit.spec import ModelCard, ModelSpec, TensorSpec, Tolerance
from dlcompress.zoo.registry import register

TASK = "metric-embedding"


class EmbeddingNet(nn.Module):
    """Conv-BN-ReLU blocks (unpadded, max-pooled between blocks), flattened into a linear embedding;
    L2-normalised when ``normalize`` (FaceNet). The Koch et al. Siamese layout is ``widths=(64, 128, 128, 256),
    kernels=(10, 7, 4, 4)`` on 105x105 images with a 4096-d embedding."""

    def __init__(self, in_chans: int = 1, image_size: int = 28, widths: Sequence[int] = (32, 64, 128),
                 kernels: Sequence[int] | None = None, embedding_dim: int = 128, normalize: bool = True) -> None:
        super().__init__()
        kernels = tuple(kernels or (3,) * len(widths))
        layers: list[nn.Module] = []
        c, size = in_chans, image_size
        for i, (w, k) in enumerate(zip(widths, kernels)):
            layers += [nn.Conv2d(c, w, k, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            c, size = w, size - k + 1
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
                size //= 2
        if size < 1:
            raise ValueError(f"image_size {image_size} is too small for kernels {kernels}")
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.fc = nn.Linear(c * size * size, embedding_dim)
        self.normalize = normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.fc(self.features(x))
        return nn.functional.normalize(e, dim=1) if self.normalize else e


def pair_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distance per row (with a small epsilon so the gradient at 0 is finite)."""
    return torch.sqrt(((a - b) ** 2).sum(dim=1) + 1e-12)


class SiameseNet(nn.Module):
    """``(left, right) -> embedding_left, embedding_right, distance``: one embedding net applied to both."""

    def __init__(self, embedding: EmbeddingNet) -> None:
        super().__init__()
        self.embedding = embedding

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a, b = self.embedding(left), self.embedding(right)
        return a, b, pair_distance(a, b)


class TripletNet(nn.Module):
    """``(anchor, positive, negative) -> three embeddings, d(anchor, positive), d(anchor, negative)``."""

    def __init__(self, embedding: EmbeddingNet) -> None:
        super().__init__()
        self.embedding = embedding

    def forward(self, anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor) -> tuple[torch.Tensor, ...]:
        a, p, n = self.embedding(anchor), self.embedding(positive), self.embedding(negative)
        return a, p, n, pair_distance(a, p), pair_distance(a, n)


def contrastive_loss(distance: torch.Tensor, same: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Hadsell et al. (2006): pull same-class pairs together (``d^2``), push others beyond ``margin``
    (``max(0, margin - d)^2``); ``same`` is 1 for same-class pairs, 0 otherwise."""
    same = same.to(distance.dtype)
    return (same * distance**2 + (1 - same) * torch.clamp(margin - distance, min=0) ** 2).mean()


def triplet_loss(d_positive: torch.Tensor, d_negative: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """FaceNet's triplet loss: ``max(0, d(a, p) - d(a, n) + margin)``, averaged."""
    return torch.clamp(d_positive - d_negative + margin, min=0).mean()


def sample_triplets(labels: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` rows of (anchor, positive, negative) indices: positive shares the anchor's label, negative not."""
    rng = np.random.default_rng(seed)
    by_label = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    out = np.empty((count, 3), dtype=np.int64)
    for i in range(count):
        a = int(rng.integers(len(labels)))
        pos = by_label[labels[a]]
        out[i] = (a, rng.choice(pos[pos != a]) if len(pos) > 1 else a, rng.choice(np.flatnonzero(labels != labels[a])))
    return out


def build_siamese(**embedding: object) -> SiameseNet:
    return SiameseNet(EmbeddingNet(**embedding))  # type: ignore[arg-type]


def build_triplet(**embedding: object) -> TripletNet:
    return TripletNet(EmbeddingNet(**embedding))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------
# registration

SIAMESE_PAPER = ("Koch et al., Siamese Neural Networks for One-shot Image Recognition, 2015; contrastive loss: "
                 "Hadsell et al., Dimensionality Reduction by Learning an Invariant Mapping, 2006")
TRIPLET_PAPER = ("Hoffer & Ailon, Deep Metric Learning Using Triplet Network, 2014 (arXiv:1412.6622); "
                 "triplet loss: Schroff et al., FaceNet, 2015 (arXiv:1503.03832)")
SIAMESE_ARGS = {"in_chans": 1, "image_size": 105, "widths": (64, 128, 128, 256), "kernels": (10, 7, 4, 4),
                "embedding_dim": 4096, "normalize": False}
TRIPLET_ARGS = {"in_chans": 1, "image_size": 28, "widths": (32, 64, 128), "embedding_dim": 128, "normalize": True}
TINY_ARGS = {"in_chans": 1, "image_size": 28, "widths": (8, 16), "embedding_dim": 16, "normalize": True}


def _images(names: Sequence[str], size: int) -> tuple[TensorSpec, ...]:
    return tuple(TensorSpec(n, ("batch", 1, size, size)) for n in names)


def _embeddings(names: Sequence[str], dim: int) -> tuple[TensorSpec, ...]:
    return tuple(TensorSpec(n, ("batch", dim)) for n in names)


for _tiny, _args in ((False, SIAMESE_ARGS), (True, TINY_ARGS)):
    _s, _d = _args["image_size"], _args["embedding_dim"]
    register(ModelSpec(
        name="siamese_net_tiny" if _tiny else "siamese_net", task=TASK, builder=build_siamese,
        inputs=_images(("left", "right"), _s),
        outputs=(*_embeddings(("embedding_left", "embedding_right"), _d), TensorSpec("distance", ("batch",))),
        build_args=dict(_args),
        tolerance=Tolerance(atol=1e-4),
        card=ModelCard(
            family="siamese", paper=SIAMESE_PAPER, default_data="fashion-mnist",
            tiny_of="siamese_net" if _tiny else None,
        ),
    ))
for _tiny, _args in ((False, TRIPLET_ARGS), (True, TINY_ARGS)):
    _s, _d = _args["image_size"], _args["embedding_dim"]
    register(ModelSpec(
        name="triplet_net_tiny" if _tiny else "triplet_net", task=TASK, builder=build_triplet,
        inputs=_images(("anchor", "positive", "negative"), _s),
        outputs=(*_embeddings(("embedding_anchor", "embedding_positive", "embedding_negative"), _d),  # type: ignore[arg-type]
                 TensorSpec("distance_positive", ("batch",)), TensorSpec("distance_negative", ("batch",))),
        build_args=dict(_args),
        tolerance=Tolerance(atol=1e-4),
        card=ModelCard(
            family="triplet", paper=TRIPLET_PAPER, default_data="fashion-mnist",
            tiny_of="triplet_net" if _tiny else None,
        ),
    ))
