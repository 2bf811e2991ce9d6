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
    """Model inputs (one array per input name, items along axis 0) and optional per-item labels.

    ``constants`` are fed as they are with every batch (a scalar such as a sample rate); ``batch_axes`` names the
    inputs whose batch dim is not the first (a recurrent state ``[layers, batch, hidden]``): their items are kept
    along axis 0 here and moved to that axis in each batch.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], labels: np.ndarray | None = None,
                 constants: Mapping[str, np.ndarray] | None = None, batch_axes: Mapping[str, int] | None = None) -> None:
        lengths = {len(a) for a in arrays.values()}
        if len(lengths) != 1 or (labels is not None and len(labels) not in lengths):
            raise ValueError(f"feed arrays and labels differ in length: {sorted(lengths)}")
        self.arrays = dict(arrays)
        self.labels = labels
        self.constants = dict(constants or {})
        self.batch_axes = {k: v for k, v in (batch_axes or {}).items() if v}

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    def batch(self, indices: Sequence[int] | np.ndarray | range) -> dict[str, np.ndarray]:
        idx = np.asarray(indices, dtype=np.int64)
        fed = {k: np.ascontiguousarray(np.moveaxis(a[idx], 0, self.batch_axes[k]) if k in self.batch_axes else a[idx])
               for k, a in self.arrays.items()}
        return {**fed, **self.constants}

    def fed_shape(self, name: str) -> tuple[int, ...]:
        """The shape ``name`` is fed with when every item is in one batch."""
        if name in self.constants:
            return tuple(self.constants[name].shape)
        shape = list(self.arrays[name].shape)
        axis = self.batch_axes.get(name, 0)
        return tuple(shape[1:axis + 1] + shape[:1] + shape[axis + 1:])

    def subset(self, indices: Sequence[int] | np.ndarray) -> FeedSource:
        idx = np.asarray(indices, dtype=np.int64)
        labels = None if self.labels is None else self.labels[idx]
        return FeedSource({k: a[idx] for k, a in self.arrays.items()}, labels, self.constants, self.batch_axes)

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
    extras: Callable[[np.ndarray, np.ndarray], dict[str, float]] | None = None
    """More measures reported next to the metric (a language model's ``perplexity``), same arguments."""


def class_accuracy(name: str, axis: int) -> FeedMetric:
    """Arg-max along ``axis`` equals the label; labels < 0 (unlabelled nodes, padding) are ignored."""

    def score(outputs: np.ndarray, labels: np.ndarray) -> float:
        pred = np.argmax(outputs, axis=axis)
        keep = labels >= 0
        return float(np.mean(pred[keep] == labels[keep])) if keep.any() else float("nan")

    return FeedMetric(name, score)


def perplexity(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """``exp`` of the mean next-token cross-entropy of ``logits`` ``[..., vocab]`` against ``labels`` ``[...]``
    (labels < 0 ignored), in float64 with a stable log-softmax; and that mean cross-entropy in nats."""
    flat, target = logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)
    keep = target >= 0
    if not keep.any():
        return {}
    x = flat[keep].astype(np.float64)
    x -= x.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(x).sum(axis=1))
    nll = float(np.mean(log_z - x[np.arange(len(x)), target[keep]]))
    return {"perplexity": float(np.exp(nll)), "cross_entropy": nll}


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
            a = split.arrays.get(t.name, split.constants.get(t.name))
            if a is None:
                problems.append(f"no input {t.name!r}")
                continue
            shape = split.fed_shape(t.name)
            batch_axis = split.batch_axes.get(t.name, 0) if t.name in split.arrays else None
            fixed_ok = len(shape) == len(t.shape) and all(
                isinstance(d, str) or d == s for k, (d, s) in enumerate(zip(t.shape, shape)) if k != batch_axis)
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
