"""The user's own model inputs as ``--data FILE.npz``: one array per model input, named after it, items along
axis 0, and optionally integer class labels under ``labels`` (or the key ``--label-column`` names), which make
the report give accuracy of the model's first output.

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
    if any(a.ndim == 0 for a in arrays.values()):
        raise DatasetError(f"{path.name} holds a scalar ({_describe(arrays)})", "put the items along axis 0")
    lengths = {len(a) for a in arrays.values()} | ({len(raw_labels)} if raw_labels is not None and raw_labels.ndim else set())
    if len(lengths) != 1:
        raise DatasetError(f"the arrays of {path.name} differ in length along axis 0: "
                           f"{_describe(arrays if raw_labels is None else {**arrays, key: raw_labels})}",
                           "give every array (and the labels) one entry per item")
    n = lengths.pop()
    if n < MIN_ITEMS:
        raise DatasetError(f"{path.name} has {n} item{'' if n == 1 else 's'}; at least {MIN_ITEMS} are needed for "
                           "calibration and evaluation", "add more items along axis 0")
    feeds = {t.name: np.ascontiguousarray(cast_safely(arrays[t.name], t.dtype)) for t in spec.inputs}
    provenance = f"your arrays: {n} items of {path.name} ({_describe(feeds)})"
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
    source = FeedSource(feeds, labels)
    train, test = held_out_split(n, HELD_OUT)
    return FeedSplits(path.name, source.subset(train), source.subset(test), provenance, metric, num_classes=classes)
