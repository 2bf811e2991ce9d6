"""Evaluators: the task's own metric, and fidelity of a compressed model against its fp32 reference."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from dlcompress.benchmarks.runtimes.base import Runtime
from dlcompress.toolkit.progress import progress_bar


@dataclass(frozen=True)
class Fidelity:
    """How close a variant's outputs are to the reference's on the same inputs."""

    top1_agreement: float | None
    cosine: float
    max_abs_diff: float
    mean_abs_diff: float
    reference_abs_max: float
    samples: int

    def to_json(self) -> dict[str, object]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def top1_accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose arg-max equals the label."""
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def fidelity(reference: np.ndarray, output: np.ndarray, classification: bool) -> Fidelity:
    """Top-1 agreement (classifiers), mean per-sample cosine similarity, max and mean absolute difference."""
    ref = reference.reshape(len(reference), -1).astype(np.float64)
    out = output.reshape(len(output), -1).astype(np.float64)
    num = np.sum(ref * out, axis=1)
    den = np.linalg.norm(ref, axis=1) * np.linalg.norm(out, axis=1)
    cos = np.where(den > 0, num / np.maximum(den, 1e-30), np.where(np.all(ref == out, axis=1), 1.0, 0.0))
    diff = np.abs(ref - out)
    agree = float(np.mean(np.argmax(ref, axis=1) == np.argmax(out, axis=1))) if classification else None
    return Fidelity(agree, float(np.mean(cos)), float(diff.max()), float(diff.mean()), float(np.abs(ref).max()), len(ref))


def collect_outputs(runtime: Runtime, batches: Iterable[dict[str, np.ndarray]], total: int | None = None,
                    label: str = "evaluating") -> np.ndarray:
    """The first output of ``runtime`` over all batches, concatenated."""
    outs = []
    name = runtime.output_names[0]
    with progress_bar(label, total=total) as bar:
        for feed in batches:
            y = runtime.run(feed)[name]
            outs.append(y)
            bar.advance(len(y))
    return np.concatenate(outs) if outs else np.zeros((0,))
