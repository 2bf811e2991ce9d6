"""The feed datasets of the non-image zoo entries: real where a real source exists offline, and really so."""

from __future__ import annotations

import numpy as np
import pytest

from dlcompress.toolkit.data import DATASETS, load_dataset
from dlcompress.toolkit.errors import DatasetError
from dlcompress.toolkit.feeds import is_feed_dataset
from dlcompress.zoo import MODELS

FEED_DATASETS = ("text-topics", "text-lm", "text-pairs", "spoken-digits", "speech-waveforms", "karate-club",
                 "communities", "go-positions", "atari-frames")


def load(model: str, dataset: str | None = None):  # noqa: ANN201
    spec = MODELS.get(model)
    return load_dataset(dataset or spec.card.default_data, spec=spec)


def test_every_non_image_entry_names_a_feed_dataset_that_fits():
    families = {"alphago", "atari", "wavenet", "ctc", "transformer", "bert", "gpt", "gcn"}
    names = [n for n in MODELS.names() if MODELS.get(n).card.family in families]
    assert len(names) == 22
    for name in names:
        assert is_feed_dataset(MODELS.get(name).card.default_data), name
    assert all(is_feed_dataset(d) for d in FEED_DATASETS)
    assert not is_feed_dataset("fashion-mnist") and "photos" in DATASETS


def test_feed_dataset_needs_a_model_and_must_fit_it():
    with pytest.raises(DatasetError, match="--model"):
        load_dataset("karate-club")
    with pytest.raises(DatasetError, match="bert_tiny"):
        load("bert_tiny", "go-positions")
    with pytest.raises(DatasetError, match="34 identity features"):
        load("gcn", "karate-club")


espeak = pytest.mark.skipif(
    not __import__("shutil").which("espeak-ng"), reason="espeak-ng is not installed (apt-get install -y espeak-ng)")


@espeak
def test_speech_is_really_synthesized_by_espeak():
    from dlcompress.toolkit.sources.speech import (
        TEST_VOICES,
        TRAIN_VOICES,
        synthesize,
        utterances,
    )

    short = synthesize("four", "en-us+m3")
    long = synthesize("four two seven", "en-us+m3")
    other = synthesize("four", "en-gb+f2")
    assert short.dtype == np.float32 and 0.2 < len(short) / 16000 < 1.5
    assert len(long) > 1.4 * len(short)  # three words take longer than one (both have silence at the ends)
    assert np.sqrt(np.mean(short ** 2)) > 0.01 and np.abs(short).max() <= 1.0  # audible, not clipped
    assert len(other) != len(short) or not np.allclose(other, short)  # another voice sounds different
    assert not set(TRAIN_VOICES) & set(TEST_VOICES)  # evaluation on held-out speakers
    texts, waves = utterances("test")
    assert len(texts) == len(waves) == 48 and all(set(t.split()) <= {
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"} for t in texts)


@espeak
def test_spoken_digits_features_and_labels():
    d = load("ctc_asr_tiny")
    f = d.train.arrays["features"]
    assert f.shape == (128, 80, 200) and np.isfinite(f).all()
    assert d.labelled and d.metric.name == "sequence_accuracy" and not d.synthetic
    energy = f.mean(1)  # [items, frames]
    assert (energy[:, :20].mean() - energy[:, -20:].mean()) > 3  # speech first, silence padding after
    assert d.metric.score(np.zeros((2, 100, 29)), np.array(["one", "two"], dtype=object)) == 0.0
    w = load("wavenet_tiny")
    x, y = w.test.arrays["audio"], w.test.labels
    assert x.shape == (48, 1, 1000) and y.shape == (48, 1000) and np.abs(x).max() <= 1
    assert np.array_equal(np.round((x[:, 0, 1:] + 1) / 2 * 255), y[:, :-1])  # labels: the next samples' levels


def test_karate_club_is_the_real_graph():
    d = load("gcn_tiny")
    a = d.test.arrays["adjacency"][0]
    assert a.shape == (34, 34) and np.array_equal(a, a.T) and a.sum() == 2 * 78 and np.trace(a) == 0
    assert np.array_equal(d.test.arrays["features"][0], np.eye(34))
    train, test = d.train.labels[0], d.test.labels[0]
    assert (train >= 0).sum() == 4 and (test >= 0).sum() == 30 and not ((train >= 0) & (test >= 0)).any()
    factions = np.where(train >= 0, train, test)
    assert factions[0] == 0 and factions[33] == 1 and factions.sum() == 17  # Mr. Hi's and the Officer's 17 each
    assert d.metric.score(np.eye(2)[factions][None], d.test.labels) == 1.0


def test_community_graphs_carry_the_classes():
    d = load("gcn")
    x, a, y = d.test.arrays["features"], d.test.arrays["adjacency"], d.test.labels
    assert x.shape == (8, 512, 1433) and a.shape == (8, 512, 512) and y.shape == (8, 512)
    same = (y[:, :, None] == y[:, None, :])
    assert a[same].mean() > 10 * a[~same].mean()  # edges mostly inside a class
    assert set(np.unique(y)) == set(range(7)) and d.synthetic


def test_text_is_real_and_held_out():
    from dlcompress.toolkit.sources.text import PAD, corpus

    assert "iris" in corpus() and "Iris" in corpus()["iris"]
    d = load("bert_tiny")
    ids, mask = d.train.arrays["input_ids"], d.train.arrays["attention_mask"]
    assert ids.shape[1] == 32 and ids.max() < 1000 and np.array_equal(mask, (ids != PAD).astype(np.int64))
    assert sorted(np.unique(d.test.labels)) == [0, 1, 2, 3] and mask.sum(1).min() < 32  # padding happens
    train_rows = {r.tobytes() for r in ids}
    repeated = sum(r.tobytes() in train_rows for r in d.test.arrays["input_ids"])
    assert repeated <= 0.1 * len(d.test)  # held-out text (a few code lines recur within a document)
    lm = load("gpt_tiny")
    assert np.array_equal(lm.test.arrays["input_ids"][:, 1:], lm.test.labels[:, :-1])  # labels = next tokens
    pairs = load("transformer_tiny")
    assert np.array_equal(pairs.test.arrays["tgt_ids"][:, 1:], pairs.test.labels[:, :-1])  # teacher forcing


def test_go_positions_follow_the_rules():
    from dlcompress.toolkit.sources.go import EMPTY, positions

    boards = positions("test", 19)
    for b in boards[:12]:
        _, stones, libs = b.groups()
        assert all(len(libs[g]) > 0 for g in stones)  # no group without liberties stays on the board
        assert abs(int((b.stones == 1).sum()) - int((b.stones == -1).sum())) <= b.moves  # both colours play
    d = load("alphago_policy_tiny")
    p = d.test.arrays["planes"]
    assert p.shape == (32, 48, 19, 19) and set(np.unique(p)) <= {0.0, 1.0}
    assert np.array_equal(p[:, 0] + p[:, 1] + p[:, 2], np.ones_like(p[:, 0]))  # own / opponent / empty
    assert p[:, 3].min() == 1 and p[:, 47].max() == 0  # ones, zeros
    assert np.array_equal(p[:, 36:44].sum(1), p[:, 20:28].sum(1))  # every legal point has a capture-size plane
    assert (p[:, 46] <= p[:, 36:44].sum(1)).all()  # sensible moves are legal
    z = load("alphago_zero_tiny").test.arrays["planes"]
    assert z.shape == (32, 17, 19, 19) and set(np.unique(z[:, 16])) <= {0.0, 1.0}
    assert d.synthetic and not d.labelled and EMPTY == 0


def test_atari_frames_move():
    d = load("dqn_tiny")
    f = d.train.arrays["frames"]
    assert f.shape == (64, 4, 84, 84) and f.min() >= 0 and f.max() <= 1
    assert (np.abs(np.diff(f, axis=1)).sum((2, 3)) > 0).mean() > 0.9  # the ball moves between stacked frames
    assert d.synthetic and "synthetic" in d.provenance


def test_conditional_discriminator_gets_real_images_with_their_true_labels():
    from dlcompress.toolkit.data import load_fashion_mnist

    splits = load("cgan_discriminator_tiny")
    assert splits.name == "fashion-mnist-labelled" and not splits.synthetic
    x, y = splits.test.arrays["image"], splits.test.arrays["label"]
    assert x.shape == (1000, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() == -1.0 and x.max() == 1.0 and set(np.unique(y)) == set(range(10))  # tanh range, all classes
    test = load_fashion_mnist().test  # each item is a real test image with its own label
    match = np.flatnonzero((test.labels == y[0]) & (np.abs(test.batch(range(len(test)))[..., 0] / 127.5 - 1
                                                          - x[0, 0]).max(axis=(1, 2)) < 1e-5))
    assert len(match) >= 1
    with pytest.raises(DatasetError, match="1x28x28 image and its int64 class label"):
        load("bert_tiny", "fashion-mnist-labelled")
