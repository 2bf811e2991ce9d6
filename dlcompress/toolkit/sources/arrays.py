"""The user's own model inputs as ``--data FILE.npz``: one array per model input, named after it, items along
axis 0, and optionally integer class labels under ``labels`` (or the key ``--label-column`` names), which make
the report give accuracy of the model's first output.

An input whose batch dim is not its first (a recurrent state ``[2, batch, 128]``) takes its array in the model's
own layout (``[2, items, 128]``); a scalar input (a sample rate), or an input without the batch dim given an
array of exactly its shape, is fed as it is with every batch.

Arrays are the model's inputs as they are (already preprocessed); a dtype is cast only where no value changes
meaning: float to the float type the model takes (float64 -> float32), integers to the integer type it takes when
every value fits (int32 -> int64). A seeded shuffle, then a quarter of the items is held out for evaluation.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from dlcompress.toolkit.data import held_out_split
from dlcompress.toolkit.errors import DatasetError
from dlcompress.toolkit.feeds import FeedSource, FeedSplits, feed_file, labels_metric

HELD_OUT = 0.25
MIN_ITEMS = 2
LABELS = "labels"


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file (no pickled objects); a DatasetError when missing, unreadable or empty."""
    if not path.is_file():
        raise DatasetError(f"data file {path} does not exist", "check the path given to --data")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DatasetError(f"{path.name} is not a readable .npz file: {str(e).splitlines()[0] if str(e) else e!r}",
                           "write it with numpy.savez(path, input_name=array, ..., labels=labels)") from None
    if not arrays:
        raise DatasetError(f"{path.name} is empty (no arrays)", "write one array per model input with numpy.savez")
    return arrays


def cast_safely(a: np.ndarray, dtype: str) -> np.ndarray:
    """``a`` as ``dtype`` where that keeps every value's meaning (float -> float, int -> int that holds every
    value); otherwise unchanged (the spec check then says what does not fit)."""
    want = np.dtype(dtype)
    if a.dtype == want:
        return a
    if a.dtype.kind == "f" and want.kind == "f":
        return a.astype(want)
    if a.dtype.kind in "iu" and want.kind in "iu":
        info = np.iinfo(want)
        if a.size == 0 or (int(a.min()) >= info.min and int(a.max()) <= info.max):
            return a.astype(want)
    return a


def _describe(arrays: dict[str, np.ndarray]) -> str:
    return ", ".join(f"{k}{list(a.shape)}:{a.dtype}" for k, a in arrays.items())


def _constants_and_batch_axes(spec: Any, arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Which arrays are fed as they are (a scalar input, or an input without the batch dim whose array has
    exactly its shape) and which inputs hold the batch dim on another axis than the first (their arrays are in
    the model's own layout, ``[2, items, 128]`` for a ``[2, batch, 128]`` state)."""
    batch = None if spec.fixed_batch else "batch"  # every loader names the batch dim "batch"
    constants: dict[str, np.ndarray] = {}
    axes: dict[str, int] = {}
    for t in spec.inputs:
        a = arrays[t.name]
        if not t.shape and a.ndim:
            raise DatasetError(f"{t.name} in {spec.name} is a scalar input ({t.describe()}); the .npz holds "
                               f"{t.name}{list(a.shape)}:{a.dtype}", f"store {t.name} as a 0-d array (numpy.array(value))")
        fixed = all(isinstance(d, int) for d in t.shape)
        if (not t.shape and a.ndim == 0) or (fixed and batch is not None and batch not in t.shape
                                             and tuple(a.shape) == tuple(t.shape)):
            constants[t.name] = a
        elif batch is not None and batch in t.shape[1:] and a.ndim == len(t.shape):
            axes[t.name] = list(t.shape).index(batch)
    return constants, axes


@feed_file(".npz")
def load_arrays(path: Path, spec: Any, text_column: str | None = None, label_column: str | None = None,
                **_: object) -> FeedSplits:
    """The file's arrays as the model's inputs; labelled when it holds class labels."""
    path = Path(path)
    if text_column:
        raise DatasetError(f"--text-column names a column of a .csv or .jsonl file; {path.name} holds arrays",
                           "drop --text-column")
    arrays = read_npz(path)
    key = label_column or LABELS
    if label_column and label_column not in arrays:
        raise DatasetError(f"{path.name} has no array {label_column!r}; its arrays: {', '.join(arrays)}",
                           "give --label-column one of them")
    raw_labels = arrays.pop(key, None)
    names = [t.name for t in spec.inputs]
    if set(arrays) != set(names):
        missing = [n for n in names if n not in arrays]
        extra = [k for k in arrays if k not in names]
        what = "; ".join(p for p in (f"no array {', '.join(missing)}" if missing else "",
                                     f"no input {', '.join(extra)}" if extra else "") if p)
        raise DatasetError(f"{path.name} holds {_describe(arrays) or 'no input arrays'} ({what}) but {spec.name} takes "
                           f"{spec.signature()}",
                           f"name one array after each model input (items along axis 0); class labels go under {key!r}")
    given = _describe(arrays)
    constants, batch_axes = _constants_and_batch_axes(spec, arrays)
    for name, axis in batch_axes.items():
        arrays[name] = np.moveaxis(arrays[name], axis, 0)
    items = {k: a for k, a in arrays.items() if k not in constants}
    if not items:
        raise DatasetError(f"{path.name} holds only inputs fed as they are ({given}); nothing varies "
                           "from item to item", "put the items along the batch axis of at least one input")
    scalars = [k for k, a in items.items() if a.ndim == 0]
    if scalars:
        raise DatasetError(f"{path.name} holds a scalar {', '.join(scalars)} ({given}) for an input that "
                           f"is not a scalar ({spec.signature()})", "put the items along axis 0")
    lengths = {len(a) for a in items.values()} | ({len(raw_labels)} if raw_labels is not None and raw_labels.ndim else set())
    if len(lengths) != 1:
        along = "along the batch axis" if batch_axes else "along axis 0"
        labels_given = "" if raw_labels is None else f", {key}{list(raw_labels.shape)}:{raw_labels.dtype}"
        raise DatasetError(f"the arrays of {path.name} differ in length {along}: {given}{labels_given}",
                           "give every array (and the labels) one entry per item")
    n = lengths.pop()
    if n < MIN_ITEMS:
        raise DatasetError(f"{path.name} has {n} item{'' if n == 1 else 's'}; at least {MIN_ITEMS} are needed for "
                           "calibration and evaluation", "add more items along axis 0")
    feeds = {t.name: np.ascontiguousarray(cast_safely(items[t.name], t.dtype)) for t in spec.inputs if t.name in items}
    fixed = {t.name: cast_safely(constants[t.name], t.dtype) for t in spec.inputs if t.name in constants}
    provenance = f"your arrays: {n} items of {path.name} ({_describe(feeds)}"
    provenance += f"; fed as they are: {_describe(fixed)})" if fixed else ")"
    if batch_axes:
        provenance += "; batch axis " + ", ".join(f"{k}: {v}" for k, v in batch_axes.items())
    metric, labels, classes = None, None, None
    if raw_labels is not None:
        if raw_labels.ndim != 1 or raw_labels.dtype.kind not in "iu":
            raise DatasetError(f"{key} in {path.name} is {list(raw_labels.shape)}:{raw_labels.dtype}; class labels "
                               f"are integers, one per item ([{n}]:int64)", "store integer class indices")
        labels = raw_labels.astype(np.int64)
        if labels.min() < 0:
            raise DatasetError(f"{key} in {path.name} holds negative class labels ({int(labels.min())})",
                               "store class indices 0, 1, 2, ...")
        classes = int(labels.max()) + 1
        metric = labels_metric(spec, classes, path.name, f"remove {key!r} from the file to measure fidelity only")
        provenance += f"; labels {key!r}: {len(np.unique(labels))} classes"
    source = FeedSource(feeds, labels, fixed, batch_axes)
    train, test = held_out_split(n, HELD_OUT)
    return FeedSplits(path.name, source.subset(train), source.subset(test), provenance, metric, num_classes=classes)
