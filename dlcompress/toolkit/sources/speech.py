"""Speech synthesized offline by espeak-ng: spoken digit sequences in many voices.

Every utterance is 1-3 digit words ("four two") spoken by one espeak-ng voice (a language variant plus a
voice variant such as ``en-us+m3``) at 140-190 words per minute, resampled to 16 kHz. Calibration voices and
held-out voices are disjoint: evaluation measures generalisation to unseen speakers, not to unseen strings.

- ``spoken-digits`` (CTC model): log-mel features (:class:`~dlcompress.toolkit.audio.LogMel`, computed in the data
  transform) of utterances padded with silence to the model's frame count; labels are the transcripts and the
  metric is greedy-decoded sequence accuracy.
- ``speech-waveforms`` (WaveNet): mu-law companded windows of the same kind of speech; labels are the mu-law
  classes of the next samples.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from functools import lru_cache

import numpy as np

from dlcompress.toolkit.errors import DatasetError
from dlcompress.toolkit.feeds import (
    FeedMetric,
    FeedSource,
    FeedSplits,
    class_accuracy,
    feed_dataset,
    input_of,
    spec_dim,
)

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TRAIN_VOICES = tuple(f"{lang}+{v}" for lang in ("en-us", "en-gb", "en-029")
                     for v in ("m1", "m2", "m4", "m5", "m7", "f1", "f3", "f4"))
TEST_VOICES = tuple(f"{lang}+{v}" for lang in ("en-us", "en-gb-scotland", "en-gb-x-rp") for v in ("m3", "m6", "f2"))
TRAIN_UTTERANCES, TEST_UTTERANCES = 128, 48
ESPEAK = "espeak-ng"


def espeak_available() -> bool:
    return shutil.which(ESPEAK) is not None


def synthesize(text: str, voice: str, words_per_minute: int = 170, sample_rate: int = 16000) -> np.ndarray:
    """One utterance as float32 samples in [-1, 1] at ``sample_rate``."""
    if not espeak_available():
        raise DatasetError("the speech datasets need espeak-ng", "apt-get install -y espeak-ng")
    proc = subprocess.run([ESPEAK, "-v", voice, "-s", str(words_per_minute), "--stdout", text],
                          capture_output=True, check=False, timeout=60)
    if proc.returncode != 0 or not proc.stdout:
        detail = proc.stderr.decode(errors="replace").strip()[:200]
        raise DatasetError(f"espeak-ng failed for voice {voice!r}: {detail}")
    with wave.open(io.BytesIO(proc.stdout)) as w:
        rate, width = w.getframerate(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    if width != 2:
        raise DatasetError(f"espeak-ng wrote {8 * width}-bit audio; 16-bit expected")
    audio = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    if rate != sample_rate:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(rate, sample_rate)
        audio = resample_poly(audio, sample_rate // g, rate // g).astype(np.float32)
    return audio


@lru_cache(maxsize=2)
def utterances(split: str) -> tuple[tuple[str, ...], tuple[np.ndarray, ...]]:
    """(transcripts, waveforms) of a split; deterministic for a given espeak-ng version."""
    voices = TRAIN_VOICES if split == "train" else TEST_VOICES
    count = TRAIN_UTTERANCES if split == "train" else TEST_UTTERANCES
    rng = np.random.default_rng(0 if split == "train" else 1)
    texts, waves = [], []
    for i in range(count):
        text = " ".join(DIGITS[d] for d in rng.integers(0, 10, size=int(rng.integers(1, 4))))
        voice = voices[i % len(voices)]
        texts.append(text)
        waves.append(synthesize(text, voice, int(rng.integers(140, 191))))
    return tuple(texts), tuple(waves)


def pad_or_trim(audio: np.ndarray, length: int) -> np.ndarray:
    out = np.zeros(length, dtype=np.float32)
    out[: min(length, len(audio))] = audio[:length]
    return out


def ctc_sequence_accuracy() -> FeedMetric:
    """Greedy CTC decoding of ``log_probs [batch, steps, alphabet]`` equals the transcript."""
    from dlcompress.toolkit.audio import ctc_greedy_decode

    def score(outputs: np.ndarray, labels: np.ndarray) -> float:
        decoded = ctc_greedy_decode(outputs)
        return float(np.mean([d == str(t) for d, t in zip(decoded, labels)]))

    return FeedMetric("sequence_accuracy", score)


@feed_dataset("spoken-digits")
def load_spoken_digits(spec) -> FeedSplits:  # noqa: ANN001
    """Log-mel features of espeak-ng spoken digit sequences; transcripts as labels; held-out voices."""
    import torch

    from dlcompress.toolkit.audio import SAMPLE_RATE, LogMel

    n_mels = input_of(spec, "features", "spoken-digits").shape[1]
    frames = spec_dim(spec, "frames", 200)
    if not isinstance(n_mels, int):
        raise DatasetError(f"{spec.name} must declare its mel band count to use spoken-digits")
    front_end = LogMel(sample_rate=SAMPLE_RATE, n_mels=n_mels)
    samples = (frames - 1) * front_end.hop + front_end.n_fft

    def source(split: str) -> FeedSource:
        texts, waves = utterances(split)
        longest = max(len(w) for w in waves)
        if longest > samples:
            raise DatasetError(f"spoken-digits utterances last up to {longest / SAMPLE_RATE:.2f} s but "
                               f"{spec.name} declares {frames} frames ({samples / SAMPLE_RATE:.2f} s)",
                               "declare more frames in the spec's dims")
        audio = torch.from_numpy(np.stack([pad_or_trim(w, samples) for w in waves]))
        with torch.no_grad():
            feats = front_end(audio).numpy()
        return FeedSource({"features": feats.astype(np.float32)}, np.array(texts, dtype=object))

    return FeedSplits(
        "spoken-digits", source("train"), source("test"),
        f"real speech synthesized offline by espeak-ng: 1-3 spoken digits, {len(TRAIN_VOICES)} calibration voices, "
        f"{len(TEST_VOICES)} held-out voices; log-mel front end in the data transform",
        ctc_sequence_accuracy(),
    )


@feed_dataset("speech-waveforms")
def load_speech_waveforms(spec) -> FeedSplits:  # noqa: ANN001
    """Mu-law companded windows of espeak-ng speech for WaveNet; labels are the next samples' mu-law classes."""
    from dlcompress.toolkit.audio import mu_law_compand, mu_law_encode

    input_of(spec, "audio", "speech-waveforms")
    length = spec_dim(spec, "time", 4000)
    levels = spec.card.num_classes or 256

    def source(split: str) -> FeedSource:
        windows, labels = [], []
        for audio in utterances(split)[1]:
            voiced = np.flatnonzero(np.abs(audio) > 0.02)
            start = int(voiced[0]) if len(voiced) else 0
            chunk = pad_or_trim(audio[start:], length + 1)
            windows.append(mu_law_compand(chunk[:-1], levels)[None])
            labels.append(mu_law_encode(chunk[1:], levels))
        return FeedSource({"audio": np.stack(windows)}, np.stack(labels))

    return FeedSplits(
        "speech-waveforms", source("train"), source("test"),
        "real speech synthesized offline by espeak-ng (held-out voices for evaluation), mu-law companded",
        class_accuracy("next_sample_accuracy", axis=1),
    )
