"""Evaluators: the task's own metric, and fidelity of a compressed model against its fp32 reference."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

import numpy as np

from dlcompress.toolkit.progress import progress_bar
from dlcompress.toolkit.registry import Registry
from dlcompress.toolkit.runtimes.base import Runtime

Outputs = list[dict[str, np.ndarray]]
"""A runtime's outputs over evaluation batches: one ``{output name: array}`` per batch."""


@dataclass(frozen=True)
class Fidelity:
    """How close a variant's outputs are to the reference's on the same inputs."""

    top1_agreement: float | None
    cosine: float | None
    max_abs_diff: float
    mean_abs_diff: float
    reference_abs_max: float
    samples: int
    extra: dict[str, float | int] = field(default_factory=dict)
    """Task-specific measures (detection: box recall/precision, mean IoU; segmentation: pixel agreement)."""

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d.update(d.pop("extra"))
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in d.items()}


def top1_accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose arg-max equals the label."""
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def fidelity(reference: np.ndarray, output: np.ndarray, classification: bool) -> Fidelity:
    """Top-1 agreement (classifiers), mean per-sample cosine similarity, max and mean absolute difference.

    A model with one value per sample (a discriminator's logit, a value head) gets the cosine of the whole batch
    of values instead: the cosine of two scalars is only their sign agreement."""
    ref = reference.reshape(len(reference), -1).astype(np.float64)
    out = output.reshape(len(output), -1).astype(np.float64)
    a, b = (ref.reshape(1, -1), out.reshape(1, -1)) if ref.shape[1] == 1 else (ref, out)
    num = np.sum(a * b, axis=1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cos = np.where(den > 0, num / np.maximum(den, 1e-30), np.where(np.all(a == b, axis=1), 1.0, 0.0))
    diff = np.abs(ref - out)
    agree = float(np.mean(np.argmax(ref, axis=1) == np.argmax(out, axis=1))) if classification else None
    return Fidelity(agree, float(np.mean(cos)), float(diff.max()), float(diff.mean()), float(np.abs(ref).max()), len(ref))


def collect_outputs(runtime: Runtime, batches: Iterable[dict[str, np.ndarray]], total: int | None = None,
                    label: str = "evaluating") -> np.ndarray:
    """The first output of ``runtime`` over all batches, concatenated."""
    return first_output(collect_batches(runtime, batches, total, label))


def collect_batches(runtime: Runtime, batches: Iterable[dict[str, np.ndarray]], total: int | None = None,
                    label: str = "evaluating") -> Outputs:
    """Every output of ``runtime``, one dict per batch (detectors' outputs differ in length per image)."""
    outs: Outputs = []
    with progress_bar(label, total=total) as bar:
        for feed in batches:
            outs.append(runtime.run(feed))
            bar.advance(len(next(iter(feed.values()))))
    return outs


def first_output(outputs: Outputs) -> np.ndarray:
    """The first output over all batches, concatenated along the batch dim."""
    arrays = [next(iter(o.values())) for o in outputs]
    return np.concatenate(arrays) if arrays else np.zeros((0,))


# ---------------------------------------------------------------------------------------------------------
# Fidelity per task: how a compressed variant's outputs compare with the reference's, in the task's terms

FidelityEvaluator = Callable[[Outputs, Outputs], Fidelity]
FIDELITY: Registry[FidelityEvaluator] = Registry("fidelity evaluator")
"""task -> evaluator; tasks without one compare the first output densely (cosine, max abs diff)."""


def task_fidelity(task: str, reference: Outputs, output: Outputs) -> Fidelity:
    """Fidelity of ``output`` against ``reference`` with the task's evaluator."""
    evaluator = FIDELITY.get(task) if task in FIDELITY else dense_fidelity
    return evaluator(reference, output)


def dense_fidelity(reference: Outputs, output: Outputs) -> Fidelity:
    """Cosine and absolute differences of the first output, per sample."""
    return fidelity(first_output(reference), first_output(output), classification=False)


@FIDELITY.register("image-classification")
def classification_fidelity(reference: Outputs, output: Outputs) -> Fidelity:
    """Top-1 agreement of the logits, plus cosine and absolute differences."""
    return fidelity(first_output(reference), first_output(output), classification=True)


def _all_outputs(outputs: Outputs) -> np.ndarray:
    """Every float output flattened per sample and joined: (samples, features)."""
    parts = [np.concatenate([a.reshape(len(a), -1).astype(np.float64) for a in o.values()
                             if np.issubdtype(a.dtype, np.floating)], axis=1) for o in outputs]
    return np.concatenate(parts) if parts else np.zeros((0, 0))


def joint_fidelity(reference: Outputs, output: Outputs) -> Fidelity:
    """Cosine and absolute differences over all outputs at once (embedding pairs and distances)."""
    return fidelity(_all_outputs(reference), _all_outputs(output), classification=False)


FIDELITY.add("metric-embedding", joint_fidelity)


@FIDELITY.register("semantic-segmentation")
def segmentation_fidelity(reference: Outputs, output: Outputs) -> Fidelity:
    """Per-pixel agreement of the class arg-max (reported as top-1 agreement), plus dense differences."""
    ref, out = first_output(reference), first_output(output)
    base = fidelity(ref, out, classification=False)
    agree = float(np.mean(np.argmax(ref, axis=1) == np.argmax(out, axis=1))) if ref.size else 1.0
    return Fidelity(agree, base.cosine, base.max_abs_diff, base.mean_abs_diff, base.reference_abs_max, base.samples,
                    {"pixel_agreement": agree})


DETECTION_IOU = 0.5


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (x1, y1, x2, y2) boxes: (len(a), len(b))."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=1)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    same = np.all(a[:, None, :] == b[None, :, :], axis=2)  # degenerate (zero-area) boxes match themselves
    return np.where(union > 0, inter / np.maximum(union, 1e-12), same.astype(np.float64))


def match_detections(ref_boxes: np.ndarray, ref_labels: np.ndarray, boxes: np.ndarray, labels: np.ndarray,
                     iou: float = DETECTION_IOU) -> list[tuple[int, int, float]]:
    """Greedy matching in reference order (highest score first): each reference box takes the unmatched box of
    the same label with the highest IoU, if that IoU reaches ``iou``. Returns (ref index, index, IoU)."""
    if not len(ref_boxes) or not len(boxes):
        return []
    ious = box_iou(ref_boxes.astype(np.float64), boxes.astype(np.float64))
    ious[ref_labels[:, None] != labels[None, :]] = -1.0
    pairs, taken = [], np.zeros(len(boxes), dtype=bool)
    for i in range(len(ref_boxes)):
        row = np.where(taken, -1.0, ious[i])
        j = int(np.argmax(row))
        if row[j] >= iou:
            taken[j] = True
            pairs.append((i, j, float(row[j])))
    return pairs


@FIDELITY.register("object-detection")
def detection_fidelity(reference: Outputs, output: Outputs) -> Fidelity:
    """Box agreement: reference boxes matched by a box of the same label at IoU >= 0.5 (recall), boxes that
    match a reference box (precision), their mean IoU and score differences; absolute differences are those
    of the matched box coordinates. Models with a dense output instead (YOLO's grid) are compared densely."""
    if not reference or not {"boxes", "scores", "labels"} <= set(reference[0]):
        return dense_fidelity(reference, output)
    n_ref = n_out = 0
    ious: list[float] = []
    coord_diffs: list[np.ndarray] = []
    score_diffs: list[np.ndarray] = []
    ref_max = 0.0
    for r, o in zip(reference, output):
        pairs = match_detections(r["boxes"], r["labels"], o["boxes"], o["labels"])
        n_ref, n_out = n_ref + len(r["boxes"]), n_out + len(o["boxes"])
        if len(r["boxes"]):
            ref_max = max(ref_max, float(np.abs(r["boxes"]).max()))
        if pairs:
            i, j = (np.asarray(x) for x in list(zip(*pairs))[:2])
            ious += [p[2] for p in pairs]
            coord_diffs.append(np.abs(r["boxes"][i].astype(np.float64) - o["boxes"][j]).ravel())
            score_diffs.append(np.abs(r["scores"][i].astype(np.float64) - o["scores"][j]))
    matched = len(ious)
    coords = np.concatenate(coord_diffs) if coord_diffs else np.zeros(0)
    scores = np.concatenate(score_diffs) if score_diffs else np.zeros(0)
    recall = matched / n_ref if n_ref else float(n_out == 0)
    precision = matched / n_out if n_out else float(n_ref == 0)
    extra = {
        "box_recall": recall, "box_precision": precision,
        "box_f1": 2 * recall * precision / (recall + precision) if recall + precision else 0.0,
        "mean_iou": float(np.mean(ious)) if ious else 0.0,
        "score_max_abs_diff": float(scores.max()) if scores.size else 0.0,
        "reference_detections": n_ref, "detections": n_out,
    }
    return Fidelity(None, None, float(coords.max()) if coords.size else 0.0,
                    float(coords.mean()) if coords.size else 0.0, ref_max, len(reference), extra)
