"""Token datasets from real text that ships with scikit-learn: its dataset descriptions (``descr/*.rst``).

Deterministic for a given scikit-learn version, offline, English prose with tables. Tokens are lower-case
words, single digits and runs of one punctuation character; the vocabulary is ranked by frequency over the
whole corpus and cut to the model's vocabulary size (ids: 0 pad, 1 unknown, 2 CLS/BOS, 3 SEP, then words).
Held-out data is the last quarter of every document, so evaluation text is never seen in calibration.

- ``text-topics`` (BERT): passages of whole sentences, labelled with the document they come from (4 classes).
- ``text-lm`` (GPT): token windows; labels are the next tokens (next-token accuracy, and perplexity: exp of the
  mean next-token cross-entropy over the held-out windows).
- ``text-pairs`` (Transformer): a window as source, the text that follows it as target (teacher forcing).
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

from dlcompress.toolkit.errors import DatasetError
from dlcompress.toolkit.feeds import (
    FeedSource,
    FeedSplits,
    class_accuracy,
    feed_dataset,
    input_of,
    perplexity,
    spec_dim,
)

PAD, UNK, CLS, SEP = 0, 1, 2, 3
SPECIALS = 4
TOPIC_DOCUMENTS = ("twenty_newsgroups", "breast_cancer", "kddcup99", "lfw")
HELD_OUT = 0.25
TOKEN = re.compile(r"[a-z]+|[0-9]|([^\sa-z0-9])\1*")
PROVENANCE = "real text: scikit-learn's bundled dataset descriptions (sklearn/datasets/descr/*.rst)"


@lru_cache(maxsize=1)
def corpus() -> dict[str, str]:
    """Document name -> text, sorted by name."""
    try:
        import sklearn
    except ImportError:
        raise DatasetError("the text datasets need scikit-learn", "pip install scikit-learn") from None
    folder = Path(sklearn.__file__).parent / "datasets" / "descr"
    docs = {p.stem: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.rst"))}
    if not docs:
        raise DatasetError(f"no dataset descriptions found in {folder}", "reinstall scikit-learn")
    return docs


def tokenize(text: str) -> list[str]:
    return [m.group(0) for m in TOKEN.finditer(text.lower())]


@lru_cache(maxsize=1)
def ranked_tokens() -> tuple[str, ...]:
    """Every corpus token, most frequent first (ties alphabetical)."""
    counts = Counter(t for doc in corpus().values() for t in tokenize(doc))
    return tuple(sorted(counts, key=lambda t: (-counts[t], t)))


class Vocabulary:
    """Token -> id for a model with ``size`` ids; tokens beyond it map to UNK."""

    def __init__(self, size: int) -> None:
        if size <= SPECIALS:
            raise DatasetError(f"a vocabulary of {size} ids is too small for text")
        self.ids = {t: SPECIALS + i for i, t in enumerate(ranked_tokens()[: size - SPECIALS])}

    def encode(self, tokens: list[str]) -> np.ndarray:
        return np.array([self.ids.get(t, UNK) for t in tokens], dtype=np.int64)


def _split_point(n: int) -> int:
    return int(round(n * (1 - HELD_OUT)))


def _vocab_size(spec, name: str, dataset: str) -> int:  # noqa: ANN001
    return int(input_of(spec, name, dataset).value_range[1])


def sentences(text: str) -> list[list[str]]:
    """Sentences (or table rows / headings: blank lines and line-final periods end them) as token lists."""
    parts = re.split(r"(?<=[.!?:])\s+|\n\s*\n|\n(?=\s*[-=*:])", text)
    return [toks for toks in (tokenize(p) for p in parts) if toks]


def pack(sents: list[list[str]], width: int) -> list[list[str]]:
    """Greedy packing of whole sentences into passages of at most ``width`` tokens (long ones are cut)."""
    out: list[list[str]] = []
    cur: list[str] = []
    for s in sents:
        for i in range(0, len(s), width):
            piece = s[i : i + width]
            if cur and len(cur) + len(piece) > width:
                out.append(cur)
                cur = []
            cur = cur + piece
    if cur:
        out.append(cur)
    return out


@feed_dataset("text-topics")
def load_text_topics(spec) -> FeedSplits:  # noqa: ANN001
    """Which scikit-learn dataset description a passage comes from (4 classes); BERT inputs with padding."""
    seq = spec_dim(spec, "seq", 32)
    vocab = Vocabulary(_vocab_size(spec, "input_ids", "text-topics"))
    if spec.card.num_classes != len(TOPIC_DOCUMENTS):
        raise DatasetError(f"text-topics has {len(TOPIC_DOCUMENTS)} classes; {spec.name} predicts {spec.card.num_classes}",
                           "build the classifier with num_labels=4")
    docs = corpus()
    missing = [d for d in TOPIC_DOCUMENTS if d not in docs]
    if missing:
        raise DatasetError(f"scikit-learn has no {missing[0]}.rst description", "pip install -U scikit-learn")
    splits: dict[str, tuple[list[np.ndarray], list[int]]] = {"train": ([], []), "test": ([], [])}
    for label, name in enumerate(TOPIC_DOCUMENTS):
        passages = pack(sentences(docs[name]), seq - 2)
        cut = _split_point(len(passages))
        for i, p in enumerate(passages):
            ids, labels = splits["train" if i < cut else "test"]
            ids.append(np.concatenate([[CLS], vocab.encode(p), [SEP]]))
            labels.append(label)

    def source(ids: list[np.ndarray], labels: list[int]) -> FeedSource:
        x = np.full((len(ids), seq), PAD, dtype=np.int64)
        for i, row in enumerate(ids):
            x[i, : len(row)] = row
        return FeedSource({"input_ids": x, "attention_mask": (x != PAD).astype(np.int64)}, np.array(labels)).shuffled()

    return FeedSplits("text-topics", source(*splits["train"]), source(*splits["test"]),
                      PROVENANCE + f"; classes: {', '.join(TOPIC_DOCUMENTS)}", class_accuracy("top1", axis=1),
                      num_classes=len(TOPIC_DOCUMENTS), class_names=TOPIC_DOCUMENTS)


def _streams(vocab: Vocabulary) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per document: the calibration part and the held-out part as id streams."""
    train, test = [], []
    for text in corpus().values():
        ids = vocab.encode(tokenize(text))
        cut = _split_point(len(ids))
        train.append(ids[:cut])
        test.append(ids[cut:])
    return train, test


def _windows(streams: list[np.ndarray], width: int, stride: int) -> np.ndarray:
    rows = [s[i : i + width] for s in streams for i in range(0, len(s) - width + 1, stride)]
    return np.stack(rows) if rows else np.zeros((0, width), dtype=np.int64)


@feed_dataset("text-lm")
def load_text_lm(spec) -> FeedSplits:  # noqa: ANN001
    """Next-token prediction on windows of real text (GPT inputs; labels are the following tokens)."""
    seq = spec_dim(spec, "seq", 32)
    train, test = _streams(Vocabulary(_vocab_size(spec, "input_ids", "text-lm")))

    def source(streams: list[np.ndarray], stride: int) -> FeedSource:
        w = _windows(streams, seq + 1, stride)
        return FeedSource({"input_ids": w[:, :-1], "attention_mask": np.ones_like(w[:, :-1])}, w[:, 1:]).shuffled()

    return FeedSplits("text-lm", source(train, max(1, seq // 2)), source(test, seq), PROVENANCE,
                      dataclasses.replace(class_accuracy("next_token_accuracy", axis=-1), extras=perplexity))


@feed_dataset("text-pairs")
def load_text_pairs(spec) -> FeedSplits:  # noqa: ANN001
    """Source window -> the text that follows it (encoder-decoder inputs, teacher forcing; labels are the
    target tokens, so the metric is next-token accuracy of the decoder)."""
    src_len, tgt_len = spec_dim(spec, "src_seq", 16), spec_dim(spec, "tgt_seq", 16)
    train, test = _streams(Vocabulary(_vocab_size(spec, "src_ids", "text-pairs")))

    def source(streams: list[np.ndarray], stride: int) -> FeedSource:
        w = _windows(streams, src_len + tgt_len, stride)
        target = w[:, src_len:]
        decoder_in = np.concatenate([np.full((len(w), 1), CLS, dtype=np.int64), target[:, :-1]], axis=1)
        return FeedSource({"src_ids": w[:, :src_len], "tgt_ids": decoder_in}, target).shuffled()

    return FeedSplits("text-pairs", source(train, max(1, (src_len + tgt_len) // 4)), source(test, src_len + tgt_len),
                      PROVENANCE + "; the target is the text that follows the source",
                      class_accuracy("next_token_accuracy", axis=-1))
