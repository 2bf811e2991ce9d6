"""Attributions of a reference model and of its compressed variants on the same inputs, and how far they drift.

For each image, each method and each model (the reference first), one :class:`Cell`: the map for the class the
reference predicts (so every model is asked about the same class), the model's own deletion and insertion AUC
with its own map, and, for a variant, the Spearman rank correlation and top-k% IoU of its map against the
reference's. A method a model cannot run (Grad-CAM on an ONNX file) gives a ``not-run`` cell saying why; a method
that fails on one model gives a ``failed`` cell; neither stops the rest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from dlcompress.toolkit.errors import describe_failure
from dlcompress.toolkit.explain.drift import (
    auc,
    deletion_curve,
    insertion_curve,
    mean_of,
    spearman,
    top_k_iou,
)
from dlcompress.toolkit.explain.methods import Method, Settings, Subject, explain
from dlcompress.toolkit.progress import progress_bar

METRICS = ("spearman", "top_k_iou", "deletion_auc", "insertion_auc")


@dataclass
class Cell:
    """One method on one model for one image."""

    status: str  # ok | not-run | failed
    reason: str | None = None
    map: np.ndarray | None = field(default=None, repr=False)
    predicted: int | None = None
    target_probability: float | None = None
    spearman: float | None = None
    top_k_iou: float | None = None
    deletion_auc: float | None = None
    insertion_auc: float | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"status": self.status}
        if self.reason:
            out["reason"] = self.reason
        for key in ("predicted", "target_probability", *METRICS):
            value = getattr(self, key)
            if value is not None:
                out[key] = round(float(value), 4) if isinstance(value, float) else value
        out["seconds"] = round(self.seconds, 3)
        return out


@dataclass
class ImageCase:
    """One explained input: its index in the split, its label (if any) and the class explained."""

    index: int
    pixels: np.ndarray = field(repr=False)
    target: int
    label: int | None = None


@dataclass
class Explanation:
    reference: str
    variants: list[str]
    methods: list[Method]
    images: list[ImageCase]
    settings: Settings
    top_k: float
    cells: dict[tuple[str, str, int], Cell] = field(default_factory=dict)
    """(method, model, image number) -> cell; ``model`` is the reference or a variant."""
    notes: list[str] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        return [self.reference, *self.variants]

    def cell(self, method: str, model: str, image: int) -> Cell:
        return self.cells[(method, model, image)]

    def summary(self, method: str, model: str) -> dict[str, object]:
        """Means over the images where the cell ran, the drift against the reference's, and the cells' status."""
        cells = [self.cell(method, model, i) for i in range(len(self.images))]
        ok = [c for c in cells if c.status == "ok"]
        out: dict[str, object] = {"method": method, "model": model, "images": len(ok)}
        if not ok:
            out["status"] = cells[0].status if cells else "not-run"
            out["reason"] = next((c.reason for c in cells if c.reason), None)
            return out
        out["status"] = "ok" if len(ok) == len(cells) else "partial"
        for key in METRICS:
            value = mean_of([getattr(c, key) for c in ok])
            if value is not None:
                out[key] = round(value, 4)
        if model != self.reference:
            refs = [self.cell(method, self.reference, i) for i in range(len(self.images))]
            for key in ("deletion_auc", "insertion_auc"):
                pairs = [(getattr(c, key), getattr(r, key)) for c, r in zip(cells, refs)
                         if c.status == "ok" and r.status == "ok"]
                delta = mean_of([a - b for a, b in pairs if a is not None and b is not None])
                if delta is not None:
                    out[f"{key}_delta"] = round(delta, 4)
            agree = [c.predicted == img.target for c, img in zip(cells, self.images) if c.status == "ok"]
            out["prediction_agreement"] = round(float(np.mean(agree)), 4)
        return out

    def to_json(self) -> dict[str, object]:
        return {
            "reference": self.reference,
            "variants": self.variants,
            "methods": [m.name for m in self.methods],
            "settings": {"samples": self.settings.samples, "seed": self.settings.seed, "top_k": self.top_k,
                         "baseline": "black (0 in [0, 1] pixels) for SHAP's hidden pixels, LIME's hidden superpixels "
                                     "and the deletion/insertion curves"},
            "summary": [self.summary(m.name, v) for m in self.methods for v in self.models],
            "images": [{"index": img.index, "label": img.label, "explained_class": img.target,
                        "cells": {m.name: {v: self.cell(m.name, v, i).to_json() for v in self.models}
                                  for m in self.methods}}
                       for i, img in enumerate(self.images)],
            "notes": self.notes,
        }


def compare_attributions(reference: Subject, variants: list[Subject], methods: list[Method], images: list[ImageCase],
                         settings: Settings, top_k: float = 0.1) -> Explanation:
    """Run every method on every model for every image (see the module's docstring)."""
    found = Explanation(reference.name, [v.name for v in variants], methods, images, settings, top_k)
    subjects = [reference, *variants]
    total = len(images) * len(methods) * len(subjects)
    with progress_bar("explaining", total) as bar:
        for i, img in enumerate(images):
            for method in methods:
                for subject in subjects:
                    cell = _cell(method, subject, img, settings)
                    found.cells[(method.name, subject.name, i)] = cell
                    bar.advance()
                ref = found.cells[(method.name, reference.name, i)]
                for subject in variants:
                    cell = found.cells[(method.name, subject.name, i)]
                    if cell.status == "ok" and ref.status == "ok":
                        cell.spearman = spearman(ref.map, cell.map)
                        cell.top_k_iou = top_k_iou(ref.map, cell.map, top_k)
    return found


def _cell(method: Method, subject: Subject, img: ImageCase, settings: Settings) -> Cell:
    reason = method.why_not(subject)
    if reason is not None:
        return Cell("not-run", reason)
    start = time.perf_counter()
    try:
        probs = subject.predict(img.pixels[None])[0]
        found = explain(method, subject, img.pixels, img.target, settings)

        def score(batch: np.ndarray) -> np.ndarray:
            return subject.predict(batch)[:, img.target]

        deletion = auc(deletion_curve(score, img.pixels, found))
        insertion = auc(insertion_curve(score, img.pixels, found))
    except Exception as e:  # noqa: BLE001 - one model's failure is its cell's, the others still run
        return Cell("failed", describe_failure(e), seconds=time.perf_counter() - start)
    return Cell("ok", map=found, predicted=int(np.argmax(probs)), target_probability=float(probs[img.target]),
                deletion_auc=deletion, insertion_auc=insertion, seconds=time.perf_counter() - start)
