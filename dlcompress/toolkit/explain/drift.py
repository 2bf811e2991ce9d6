"""How far two attribution maps of the same input disagree (pure numpy).

* :func:`spearman`: rank correlation of the two maps' pixel values (1 = the same ordering of pixels).
* :func:`top_k_iou`: overlap of the ``k`` share of pixels each map ranks highest (1 = the same pixels).
* :func:`deletion_curve` / :func:`insertion_curve` and :func:`auc` (Petsiuk et al., RISE, 2018): the model's score
  for the explained class as the pixels a map ranks highest are removed from the image (deletion: a faithful map
  makes it fall fast, low AUC) or added to a blank one (insertion: it rises fast, high AUC).

Maps are 2-D ``(H, W)`` arrays; images ``(H, W, C)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

DELETION_STEPS = 24
"""Points on a deletion/insertion curve after the first (0%, 1/24, ..., 100% of the pixels)."""


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks of the flattened ``values`` from 1, tied values sharing the mean of their ranks (as SciPy's
    ``rankdata(method="average")``)."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(flat, kind="stable")
    ordered = flat[order]
    starts = np.r_[True, ordered[1:] != ordered[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.r_[first[1:], len(flat)] - 1
    mean_rank = (first + last) / 2.0 + 1.0
    out = np.empty(len(flat))
    out[order] = mean_rank[group]
    return out


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps of the same shape; NaN when either is constant."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"maps of different shapes: {a.shape} and {b.shape}")
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


def top_pixels(a: np.ndarray, k: float) -> np.ndarray:
    """Flat indices of the ``ceil(k * pixels)`` highest values of ``a`` (ties: the earlier pixel first)."""
    if not 0 < k <= 1:
        raise ValueError(f"k must be in (0, 1], got {k}")
    flat = np.asarray(a, dtype=np.float64).ravel()
    n = int(np.ceil(k * flat.size))
    return np.argsort(-flat, kind="stable")[:n]


def top_k_iou(a: np.ndarray, b: np.ndarray, k: float = 0.1) -> float:
    """Intersection over union of the top ``k`` share of pixels of each map."""
    if np.shape(a) != np.shape(b):
        raise ValueError(f"maps of different shapes: {np.shape(a)} and {np.shape(b)}")
    sa, sb = set(top_pixels(a, k).tolist()), set(top_pixels(b, k).tolist())
    return len(sa & sb) / len(sa | sb)


def _fractions(steps: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, steps + 1)


def _cumulative_images(start: np.ndarray, end: np.ndarray, order: np.ndarray, steps: int) -> np.ndarray:
    """``steps + 1`` images: ``start`` with the first ``fraction * pixels`` of ``order`` taken from ``end``."""
    h, w = start.shape[:2]
    counts = np.round(_fractions(steps) * h * w).astype(int)
    out = np.repeat(start[None], len(counts), axis=0).reshape(len(counts), h * w, -1)
    src = end.reshape(h * w, -1)
    for i, n in enumerate(counts):
        idx = order[:n]
        out[i, idx] = src[idx]
    return out.reshape(len(counts), *start.shape)


def deletion_curve(score: Callable[[np.ndarray], np.ndarray], image: np.ndarray, attribution: np.ndarray,
                   baseline: np.ndarray | float = 0.0, steps: int = DELETION_STEPS) -> np.ndarray:
    """The explained class's score (``score``: images ``(N, H, W, C)`` -> ``(N,)``) as the pixels ``attribution``
    ranks highest are replaced by ``baseline``, from none to all in ``steps`` equal steps."""
    image = np.asarray(image, dtype=np.float32)
    base = np.broadcast_to(np.asarray(baseline, dtype=np.float32), image.shape)
    order = np.argsort(-np.asarray(attribution, dtype=np.float64).ravel(), kind="stable")
    return np.asarray(score(_cumulative_images(image, base, order, steps)), dtype=np.float64)


def insertion_curve(score: Callable[[np.ndarray], np.ndarray], image: np.ndarray, attribution: np.ndarray,
                    baseline: np.ndarray | float = 0.0, steps: int = DELETION_STEPS) -> np.ndarray:
    """The explained class's score as the pixels ``attribution`` ranks highest are put back into ``baseline``."""
    image = np.asarray(image, dtype=np.float32)
    base = np.broadcast_to(np.asarray(baseline, dtype=np.float32), image.shape).copy()
    order = np.argsort(-np.asarray(attribution, dtype=np.float64).ravel(), kind="stable")
    return np.asarray(score(_cumulative_images(base, image, order, steps)), dtype=np.float64)


def auc(curve: np.ndarray) -> float:
    """Area under a curve sampled at equal steps over [0, 1] (trapezoid rule)."""
    y = np.asarray(curve, dtype=np.float64)
    if len(y) < 2:
        raise ValueError("a curve needs at least two points")
    return float(((y[1:] + y[:-1]) / 2).sum() / (len(y) - 1))


def mean_of(values: list[float | None]) -> float | None:
    """The mean of the finite values, or None when there are none."""
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else None
