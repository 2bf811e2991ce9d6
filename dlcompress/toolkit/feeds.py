"""Feed datasets: data sources for models whose inputs are not images (tokens, audio, graphs, board planes,
stacked frames).

A feed dataset is registered in :data:`~dlcompress.toolkit.data.DATASETS` like an image dataset, but its loader
takes the :class:`~dlcompress.toolkit.spec.ModelSpec` it feeds (vocabulary size, sequence length, feature count
come from the declared signature) and returns :class:`FeedSplits`: ``train`` (calibration) and held-out
``test`` :class:`FeedSource` s of ready model inputs, optional labels, and the :class:`FeedMetric` that scores
a model's first output against those labels. A zoo entry names its dataset in ``spec.card.default_data``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlcompress.toolkit.data import DATA_FILES, DATASETS, is_data_file
from dlcompress.toolkit.errors import DatasetError

FEEDS_KIND = "feeds"


class FeedSource:
    """Model inputs (one array per input name, items along axis 0) and optional per-item labels."""

    def __init__(self, arrays: Mapping[str, np.ndarray], labels: np.ndarray | None = None) -> None:
        lengths = {len(a) for a in arrays.values()}
        if len(lengths) != 1 or (labels is not None and len(labels) not in lengths):
            raise ValueError(f"feed arrays and labels differ in length: {sorted(lengths)}")
        self.arrays = dict(arrays)
        self.labels = labels

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    def batch(self, indices: Sequence[int] | np.ndarray | range) -> dict[str, np.ndarray]:
        idx = np.asarray(indices, dtype=np.int64)
        return {k: np.ascontiguousarray(a[idx]) for k, a in self.arrays.items()}

    def subset(self, indices: Sequence[int] | np.ndarray) -> FeedSource:
        idx = np.asarray(indices, dtype=np.int64)
        labels = None if self.labels is None else self.labels[idx]
        return FeedSource({k: a[idx] for k, a in self.arrays.items()}, labels)

    def shuffled(self, seed: int = 0) -> FeedSource:
        """The items in a seeded random order, so that ``head(n)`` is a representative sample."""
        return self.subset(np.random.default_rng(seed).permutation(len(self)))

    def head(self, n: int | None) -> FeedSource:
        """The first ``n`` items (all when ``n`` is None or larger than the source)."""
        return self if n is None or n >= len(self) else self.subset(np.arange(n))

    def batches(self, batch_size: int) -> list[dict[str, np.ndarray]]:
        return [self.batch(range(i, min(i + batch_size, len(self)))) for i in range(0, len(self), batch_size)]


@dataclass(frozen=True)
class FeedMetric:
    """A task metric on a model's first output: ``score(outputs, labels) -> float`` (higher is better)."""

    name: str
    score: Callable[[np.ndarray, np.ndarray], float]


def class_accuracy(name: str, axis: int) -> FeedMetric:
    """Arg-max along ``axis`` equals the label; labels < 0 (unlabelled nodes, padding) are ignored."""

    def score(outputs: np.ndarray, labels: np.ndarray) -> float:
        pred = np.argmax(outputs, axis=axis)
        keep = labels >= 0
        return float(np.mean(pred[keep] == labels[keep])) if keep.any() else float("nan")

    return FeedMetric(name, score)


NOT_CLASS_SCORES = ("sentence-embedding", "feature-extraction", "metric-embedding")
"""Tasks whose [batch, N] first output is an embedding, not one score per class."""


def labels_metric(spec: Any, num_classes: int, data: str, drop_hint: str) -> FeedMetric:
    """Accuracy (arg-max of the first output equals the label) for ``num_classes`` label classes, or a
    DatasetError when the model's first output is not [batch, classes] with room for that many classes."""
    out = spec.outputs[0]
    classes = out.shape[1] if len(out.shape) == 2 else None
    if spec.task in NOT_CLASS_SCORES or not isinstance(classes, int):
        what = f"a {spec.task}" if spec.task in NOT_CLASS_SCORES else "not [batch, classes]"
        raise DatasetError(f"{data} has class labels but the first output of {spec.name} is {out.describe()} "
                           f"({what}), so there is no class to compare them with", drop_hint)
    if num_classes > classes:
        raise DatasetError(f"{data} has {num_classes} label classes but {spec.name} scores {classes} "
                           f"({out.describe()})", drop_hint)
    return class_accuracy("accuracy", axis=1)


@dataclass(frozen=True)
class FeedSplits:
    """A feed dataset: calibration (``train``) and held-out (``test``) inputs, labels and metric.

    ``provenance`` says where the data comes from; ``synthetic`` is True where no real source exists offline.
    """

    name: str
    train: FeedSource
    test: FeedSource
    provenance: str
    metric: FeedMetric | None = None
    synthetic: bool = False
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None
    kind: str = FEEDS_KIND

    @property
    def labelled(self) -> bool:
        return self.metric is not None and self.test.labels is not None


FeedLoader = Callable[..., FeedSplits]


def feed_dataset(name: str) -> Callable[[FeedLoader], FeedLoader]:
    """Register ``loader(spec) -> FeedSplits`` in DATASETS; its output is checked against the spec."""

    def wrap(loader: FeedLoader) -> FeedLoader:
        @functools.wraps(loader)
        def load(spec: Any = None, **_: object) -> FeedSplits:
            if spec is None:
                raise DatasetError(f"{name} makes inputs for a particular model",
                                   f"use it with --model (--data {name})")
            splits = loader(spec)
            check_fits(spec, splits)
            return splits

        load.kind = FEEDS_KIND  # type: ignore[attr-defined]
        DATASETS.add(name, load)
        return load

    return wrap


def feed_file(*suffixes: str) -> Callable[[FeedLoader], FeedLoader]:
    """Register ``loader(path, spec, **options) -> FeedSplits`` in DATA_FILES for files with these suffixes
    (the user's own data: ``--data FILE``); its output is checked against the spec."""

    def wrap(loader: FeedLoader) -> FeedLoader:
        @functools.wraps(loader)
        def load(path: Any, spec: Any = None, **options: Any) -> FeedSplits:
            if spec is None:
                raise DatasetError(f"--data {path} is read into the inputs of a model", "use it with --model")
            splits = loader(path, spec, **options)
            check_fits(spec, splits, f"{spec.name} takes {spec.signature()}")
            return splits

        load.kind = FEEDS_KIND  # type: ignore[attr-defined]
        for suffix in suffixes:
            DATA_FILES.add(suffix, load)
        return load

    return wrap


def is_feed_dataset(name: str) -> bool:
    """Whether ``name`` is a registered feed dataset or a data file (their loaders need the model's spec)."""
    if is_data_file(name):
        return True
    return name in DATASETS and getattr(DATASETS.get(name), "kind", None) == FEEDS_KIND


def check_fits(spec: Any, splits: FeedSplits, hint: str | None = None) -> None:
    """The dataset's arrays have the spec's input names, ranks, fixed dims and dtypes (one clear error if not;
    ``hint`` replaces the default advice to use the model's own data)."""
    problems = []
    for split in (splits.train, splits.test):
        for t in spec.inputs:
            a = split.arrays.get(t.name)
            if a is None:
                problems.append(f"no input {t.name!r}")
                continue
            shape = a.shape
            fixed_ok = len(shape) == len(t.shape) and all(
                isinstance(d, str) or d == s for d, s in zip(t.shape[1:], shape[1:]))
            if not fixed_ok or str(a.dtype) != t.dtype:
                problems.append(f"{t.name} is {list(shape)}:{a.dtype}, the model takes {t.describe()}")
    if problems:
        raise DatasetError(f"{splits.name} does not fit {spec.name}: {'; '.join(dict.fromkeys(problems))}",
                           hint or f"use the model's own data ({spec.card.default_data})")


def spec_dim(spec: Any, name: str, default: int) -> int:
    """The size of a symbolic dim (``seq``, ``frames``...) the spec declares, else ``default``."""
    return int(spec.dims.get(name, default))


def input_of(spec: Any, name: str, dataset: str) -> Any:
    """The spec's input called ``name``, or a DatasetError saying the dataset cannot feed this model."""
    for t in spec.inputs:
        if t.name == name:
            return t
    raise DatasetError(f"{dataset} makes an input {name!r} but {spec.name} takes {spec.signature()}",
                       f"use the model's own data ({spec.card.default_data})")
