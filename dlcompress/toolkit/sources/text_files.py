"""The user's own text as ``--data FILE``: ``.txt`` (one item a line), ``.jsonl`` or ``.csv`` (a text column and
optionally a label column), tokenized by the model's own tokenizer exactly as ``text-sentences`` is.

The text column is ``--text-column``, else ``text``, else the only column of strings. With ``--label-column``
the labels (strings or integers) become class indices in sorted order of their values, and the report gives
accuracy of the model's first output (it must be [batch, classes]); without, the data is unlabelled: fidelity
against fp32 only. A seeded shuffle, then a quarter of the items is held out for evaluation.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from dlcompress.toolkit.data import held_out_split
from dlcompress.toolkit.errors import DatasetError
from dlcompress.toolkit.feeds import FeedSource, FeedSplits, feed_file, labels_metric
from dlcompress.toolkit.sources.tokenized_text import tokenized, tokenizer_of

HELD_OUT = 0.25
MIN_ITEMS = 2
TABLE_SUFFIXES = (".csv", ".jsonl")

Row = dict[str, Any]


def read_text(path: Path) -> str:
    """The file's text (UTF-8, a byte-order mark dropped); a DatasetError when missing, unreadable or empty."""
    if not path.is_file():
        raise DatasetError(f"data file {path} does not exist", "check the path given to --data")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path.name} is not UTF-8 text ({e.reason} at byte {e.start})",
                           "save it as UTF-8") from None
    except OSError as e:
        raise DatasetError(f"cannot read {path}: {e.strerror or e}") from None
    if not text.strip():
        raise DatasetError(f"{path.name} is empty", "put one text item per line (or row)")
    return text


def read_lines(path: Path) -> list[str]:
    """A ``.txt`` file: one item a line, blank lines skipped."""
    return [ln.strip() for ln in read_text(path).splitlines() if ln.strip()]


def read_rows(path: Path) -> tuple[list[Row], list[str]]:
    """A ``.jsonl`` (one JSON object a line) or ``.csv`` (a header row) file as rows and column names."""
    text = read_text(path)
    if path.suffix.lower() == ".jsonl":
        rows: list[Row] = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DatasetError(f"{path.name} line {n} is not JSON: {e.msg}",
                                   "a .jsonl file has one JSON object a line") from None
            if not isinstance(row, dict):
                raise DatasetError(f"{path.name} line {n} is a JSON {type(row).__name__}, not an object",
                                   'a .jsonl file has one JSON object a line, e.g. {"text": "...", "label": "..."}')
            rows.append(row)
        columns = list(dict.fromkeys(k for row in rows for k in row))
        return rows, columns
    try:
        reader = csv.DictReader(text.splitlines())
        columns = [c for c in (reader.fieldnames or []) if c]
        rows = [{k: v for k, v in row.items() if k} for row in reader]
    except csv.Error as e:
        raise DatasetError(f"{path.name} is not readable as CSV: {e}") from None
    if not rows:
        raise DatasetError(f"{path.name} has a header row ({', '.join(columns)}) but no rows",
                           "a .csv file has a header row, then one item a row")
    return rows, columns


def _is_number(value: Any) -> bool:
    if isinstance(value, (int, float)):
        return True
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def _is_text(rows: list[Row], column: str) -> bool:
    """Whether a column holds strings (JSON strings; in a CSV, cells that are not all numbers)."""
    values = [r.get(column) for r in rows if r.get(column) not in (None, "")]
    return bool(values) and all(isinstance(v, str) for v in values) and not all(_is_number(v) for v in values)


def text_column_of(name: str, rows: list[Row], columns: list[str], given: str | None, label: str | None) -> str:
    """``given``, else ``text``, else the only column of strings (not the label column)."""
    if given is not None:
        if given not in columns:
            raise DatasetError(f"{name} has no column {given!r}; its columns: {', '.join(columns)}",
                               "give --text-column one of them")
        return given
    if "text" in columns and label != "text":
        return "text"
    texts = [c for c in columns if c != label and _is_text(rows, c)]
    if len(texts) == 1:
        return texts[0]
    if not texts:
        raise DatasetError(f"{name} has no column of text; its columns: {', '.join(columns)}",
                           "give --text-column NAME")
    raise DatasetError(f"{name} has no 'text' column and {len(texts)} columns of text ({', '.join(texts)})",
                       "choose one with --text-column NAME")


def _label_value(value: Any) -> int | str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        return text


def class_indices(values: list[Any]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels (strings or integers) -> class indices in the sorted order of the distinct values (integers
    numerically, anything else as strings), and the class names in index order."""
    labels = [_label_value(v) for v in values]
    if not all(isinstance(v, int) for v in labels):
        labels = [str(v) for v in labels]
    classes = sorted(set(labels))
    index = {c: i for i, c in enumerate(classes)}
    return np.asarray([index[v] for v in labels], dtype=np.int64), tuple(str(c) for c in classes)


def _items(path: Path, text_column: str | None, label_column: str | None) -> tuple[list[str], list[Any] | None, str]:
    """(texts, labels or None, a description of where they come from)."""
    if path.suffix.lower() not in TABLE_SUFFIXES:
        if text_column or label_column:
            flag = "--text-column" if text_column else "--label-column"
            raise DatasetError(f"{flag} names a column of a .csv or .jsonl file; {path.name} has one item a line "
                               "and no columns", f"drop {flag}, or give a .csv or .jsonl file")
        return read_lines(path), None, f"{path.name} (one item a line)"
    rows, columns = read_rows(path)
    if label_column is not None and label_column not in columns:
        raise DatasetError(f"{path.name} has no column {label_column!r}; its columns: {', '.join(columns)}",
                           "give --label-column one of them")
    column = text_column_of(path.name, rows, columns, text_column, label_column)
    if column == label_column:
        raise DatasetError(f"--text-column and --label-column both name {column!r}", "give two different columns")
    rows = [r for r in rows if r.get(column) is not None and str(r[column]).strip()]
    if label_column is None:
        return [str(r[column]).strip() for r in rows], None, f"{path.name} (column {column!r})"
    missing = [i for i, r in enumerate(rows, 1) if r.get(label_column) is None or not str(r[label_column]).strip()]
    if missing:
        raise DatasetError(f"{len(missing)} of {len(rows)} items of {path.name} have no {label_column!r} label "
                           f"(the first: item {missing[0]})", "give every item a label, or drop --label-column")
    return ([str(r[column]).strip() for r in rows], [r[label_column] for r in rows],
            f"{path.name} (column {column!r}, labels {label_column!r})")


@feed_file(".txt", ".jsonl", ".csv")
def load_text_file(path: Path, spec: Any, text_column: str | None = None,
                   label_column: str | None = None, **_: object) -> FeedSplits:
    """The file's text items through the model's tokenizer; labelled when ``label_column`` is given."""
    path = Path(path)
    texts, raw_labels, where = _items(path, text_column, label_column)
    if spec.is_image_model:
        raise DatasetError(f"{path.name} is text but {spec.name} takes images ({spec.signature()})",
                           "give --data a folder of images (or one with a subfolder of images per class)")
    if len(texts) < MIN_ITEMS:
        raise DatasetError(f"{path.name} has {len(texts)} text item{'' if len(texts) == 1 else 's'}; at least "
                           f"{MIN_ITEMS} are needed for calibration and evaluation", "add more lines (or rows)")
    tokenizer = tokenizer_of(spec, path.name)
    source = tokenized(texts, spec, tokenizer)
    metric, labels, names = None, None, None
    provenance = f"your text: {len(texts)} items of {where}, tokenized by the model's tokenizer"
    if raw_labels is not None:
        labels, names = class_indices(raw_labels)
        metric = labels_metric(spec, len(names), path.name, "drop --label-column to measure fidelity against fp32")
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        provenance += f"; {len(names)} classes: {shown}"
    source = FeedSource(source.arrays, labels)
    train, test = held_out_split(len(texts), HELD_OUT)
    return FeedSplits(path.name, source.subset(train), source.subset(test), provenance, metric,
                      num_classes=None if names is None else len(names), class_names=names)
