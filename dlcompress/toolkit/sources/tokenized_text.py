"""``text-sentences``: real English sentences tokenized by the model's own tokenizer (a Hugging Face folder's).

The sentences are the prose of the Python Language Reference as every CPython ships it for ``help()``
(``pydoc_data.topics``: 79 topics, about 3,400 sentences; code examples dropped), so the data is offline and the
same for a given Python version. The last quarter of every topic is held out: evaluation sentences are never
seen in calibration. Unlabelled: reports give fidelity against fp32.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import numpy as np

from dlcompress.toolkit.errors import DatasetError, ModelLoadError
from dlcompress.toolkit.feeds import FeedSource, FeedSplits, feed_dataset, spec_dim
from dlcompress.toolkit.loaders.hf_folder import load_tokenizer

HELD_OUT = 0.25
MIN_WORDS = 5
PROVENANCE = ("real text: sentences of the Python Language Reference that ships with CPython "
              "(pydoc_data.topics), tokenized by the model's tokenizer")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"(])")


def prose_sentences(text: str) -> list[str]:
    """The sentences of a plain-text help topic: paragraphs joined; code, tables and headings dropped."""
    out = []
    for para in re.split(r"\n\s*\n", text):
        lines = para.splitlines()
        if not lines or any(ln.startswith(("   ", ">>>", "...", "*", "=", "-", "+")) for ln in lines if ln.strip()):
            continue  # indented code, doctest lines, lists, rules and tables
        joined = " ".join(ln.strip() for ln in lines)
        for s in _SENTENCE_END.split(joined):
            s = " ".join(s.split())
            if len(s.split()) >= MIN_WORDS and s[-1] in ".!?:" and sum(c.isalpha() for c in s) > 0.6 * len(s):
                out.append(s)
    return out


def _topics() -> dict[str, str]:
    try:
        from pydoc_data.topics import topics
    except ImportError:  # a Python built without its docs data
        raise DatasetError("this Python has no pydoc_data.topics (the help texts) to take sentences from",
                           "give your own text with --data FILE.txt") from None
    return dict(sorted(topics.items()))


@lru_cache(maxsize=1)
def sentence_splits() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(calibration sentences, held-out sentences) over every topic."""
    train: list[str] = []
    test: list[str] = []
    for text in _topics().values():
        sents = prose_sentences(text)
        cut = int(round(len(sents) * (1 - HELD_OUT)))
        train += sents[:cut]
        test += sents[cut:]
    return tuple(train), tuple(test)


def tokenizer_of(spec: Any, data: str = "text-sentences") -> Any:
    """The tokenizer the spec names (``hints["text"]["tokenizer"]``: a local folder); ``data`` names the text
    that needs it in the error when there is none."""
    folder = spec.hint("text", "tokenizer")
    if not folder:
        raise DatasetError(f"{data} needs the model's tokenizer; {spec.name} names none",
                           "give --tokenizer FOLDER (a Hugging Face folder with tokenizer files)")
    try:
        return load_tokenizer(str(folder))
    except ModelLoadError as e:
        raise DatasetError(e.message, e.hint) from None


def tokenized(sentences: tuple[str, ...] | list[str], spec: Any, tokenizer: Any) -> FeedSource:
    """The sentences as the spec's token inputs, padded or cut to the spec's ``seq`` length."""
    seq = spec_dim(spec, "seq", 16)
    enc = tokenizer(list(sentences), padding="max_length", truncation=True, max_length=seq, return_tensors="np")
    arrays = {}
    for t in spec.inputs:
        if t.name not in enc:
            raise DatasetError(f"the tokenizer makes {', '.join(enc)} but {spec.name} takes {t.describe()}",
                               "give --tokenizer the folder the model was trained with")
        arrays[t.name] = np.asarray(enc[t.name]).astype(t.dtype)
    return FeedSource(arrays)


@feed_dataset("text-sentences")
def load_text_sentences(spec: Any) -> FeedSplits:
    """Real sentences through the model's tokenizer (unlabelled: fidelity against fp32)."""
    tokenizer = tokenizer_of(spec)
    train, test = sentence_splits()
    if not train or not test:
        raise DatasetError("no prose sentences found in pydoc_data.topics", "give your own text with --data FILE.txt")
    return FeedSplits("text-sentences", tokenized(train, spec, tokenizer).shuffled(),
                      tokenized(test, spec, tokenizer).shuffled(seed=1), PROVENANCE)
