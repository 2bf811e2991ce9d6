"""Calibration data as ``nncf.Dataset`` has it: raw items, a transform into model inputs, and how many.

Quantizers receive a :class:`Calibration` and iterate it: each batch is read from the source and transformed
only when it is reached, and every iteration yields the same batches, so a quantizer that needs two passes
(NNCF's statistics, then bias correction) can take them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

Feed = dict[str, np.ndarray]


@dataclass(frozen=True)
class Calibration:
    """``items(start, stop)`` returns the raw items ``start..stop`` (images, token arrays, ...);
    ``transform(raw)`` makes one model-input dict of them; ``count`` items are read in batches of ``batch``.
    ``source`` names the data (for progress lines and the lineage)."""

    items: Callable[[int, int], Any]
    transform: Callable[[Any], Feed]
    count: int
    batch: int = 8
    source: str = ""

    def __post_init__(self) -> None:
        if self.count < 0 or self.batch < 1:
            raise ValueError(f"calibration needs count >= 0 and batch >= 1, got {self.count} and {self.batch}")

    def __iter__(self) -> Iterator[Feed]:
        for start in range(0, self.count, self.batch):
            yield self.transform(self.items(start, min(start + self.batch, self.count)))

    def __len__(self) -> int:
        """The number of batches."""
        return -(-self.count // self.batch)

    @classmethod
    def of_feeds(cls, feeds: Iterable[Feed], source: str = "") -> Calibration:
        """Ready model inputs (one dict per batch) as a calibration set, batches kept as they are."""
        batches = list(feeds)
        sizes = [len(next(iter(f.values()))) if f else 0 for f in batches]
        if len(set(sizes)) > 1:  # uneven batches: one item per step keeps each batch's contents
            flat = [{k: v[i:i + 1] for k, v in f.items()} for f, n in zip(batches, sizes) for i in range(n)]
            return cls(lambda a, b: flat[a], lambda feed: feed, len(flat), 1, source)
        size = sizes[0] if sizes else 1
        return cls(lambda a, b: batches[a // size], lambda feed: feed, sum(sizes), max(size, 1), source)
