"""Validation after export: output names, then shapes, then values; every failure collected."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from dlcompress.toolkit.runtimes.base import Runtime


@dataclass(frozen=True)
class OutputCheck:
    name: str
    reference_shape: tuple[int, ...]
    shape: tuple[int, ...] | None
    max_abs_diff: float | None
    reference_abs_max: float | None
    passed: bool
    problem: str = ""


@dataclass(frozen=True)
class ValidationResult:
    """The outcome for one exported model against its reference."""

    passed: bool
    atol: float
    rtol: float
    checks: tuple[OutputCheck, ...] = ()
    problems: tuple[str, ...] = field(default_factory=tuple)
    batches: int = 0

    @property
    def max_abs_diff(self) -> float | None:
        diffs = [c.max_abs_diff for c in self.checks if c.max_abs_diff is not None]
        return max(diffs) if diffs else None

    def summary(self) -> str:
        if self.passed:
            return f"validated: max abs diff {self.max_abs_diff:.2e} (atol {self.atol:g}, rtol {self.rtol:g})"
        return "outside tolerance: " + "; ".join(self.problems)

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["max_abs_diff"] = self.max_abs_diff
        return d


def validate_outputs(
    reference: Runtime, candidate: Runtime, feeds: list[dict[str, np.ndarray]], atol: float, rtol: float
) -> ValidationResult:
    """Run both runtimes on the same feeds; compare names, shapes, then values within ``atol + rtol*max|ref|``.

    The relative part scales with each output's largest magnitude, not each element's: float32 reordering
    errors grow with the output's scale (random-init EfficientNets reach logits of 1e4 on noise inputs, and
    then move logits near zero by ~1e-1), while an element-wise ``rtol*|ref|`` would give those nothing.
    """
    problems: list[str] = []
    expected, got = list(reference.output_names), list(candidate.output_names)
    if expected != got:
        problems.append(f"output names differ: expected {expected}, got {got}")
    stats: dict[str, dict[str, object]] = {}
    unordered = [t.name for t in reference.artifact.spec.outputs if t.unordered]
    for feed in feeds:
        ref = reference.run(feed)
        out = align_rows(ref, candidate.run(feed), unordered)
        for i, name in enumerate(expected):
            r = np.asarray(ref[name])
            key = got[i] if i < len(got) else None
            s = stats.setdefault(name, {"ref_shape": r.shape, "shape": None, "diff": 0.0, "absmax": 0.0, "problem": ""})
            if key is None or key not in out:
                s["problem"] = "missing in the exported model"
                continue
            o = np.asarray(out[key])
            if s["shape"] is None and not s["problem"]:
                s["shape"] = o.shape  # the shapes reported are those of one batch: the first, or the first failing
            if o.shape != r.shape:
                if not s["problem"] or s["problem"] == "values outside tolerance":
                    s["ref_shape"], s["shape"] = r.shape, o.shape
                    s["problem"] = f"shape {o.shape} != reference {r.shape}"
                continue
            if r.size == 0:
                continue
            rf, of = r.astype(np.float64), o.astype(np.float64)
            s["diff"] = max(float(s["diff"]), float(np.max(np.abs(rf - of))))
            s["absmax"] = max(float(s["absmax"]), float(np.max(np.abs(rf))))
            if not np.all(np.abs(rf - of) <= atol + rtol * np.abs(rf).max()) and not s["problem"]:
                s["problem"] = "values outside tolerance"
    checks = []
    for name, s in stats.items():
        if s["problem"]:
            detail = s["problem"]
            if detail == "values outside tolerance":
                detail = f"max abs diff {s['diff']:.3g} (reference |max| {s['absmax']:.3g}) > atol {atol:g} + rtol {rtol:g}*max|ref|"
            problems.append(f"{name}: {detail}")
        checks.append(OutputCheck(name, tuple(s["ref_shape"]), tuple(s["shape"]) if s["shape"] is not None else None,
                                  float(s["diff"]), float(s["absmax"]), not s["problem"], str(s["problem"])))
    return ValidationResult(not problems, atol, rtol, tuple(checks), tuple(problems), len(feeds))


ROW_KEY_MAX = 16  # outputs with at most this many values per row (boxes, scores, labels) key the row matching


def align_rows(reference: dict[str, np.ndarray], output: dict[str, np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
    """Reorder the rows of the unordered outputs ``names`` (a detector's boxes, scores, labels, masks) in
    ``output`` to match ``reference``: each reference row takes the nearest unused row (max abs difference
    over the small per-row outputs). Tied scores make NMS order arbitrary; the values must still agree."""
    names = [n for n in names if n in reference and n in output]
    if not names or len({len(reference[n]) for n in names} | {len(output[n]) for n in names}) != 1:
        return output  # a different number of rows: the shape check reports it
    small = [n for n in names if int(np.prod(reference[n].shape[1:], dtype=np.int64)) <= ROW_KEY_MAX]
    if not small or not len(reference[small[0]]):
        return output

    def rows(d: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([d[n].reshape(len(d[n]), -1).astype(np.float64) for n in small], axis=1)

    ref, out = rows(reference), rows(output)
    taken = np.zeros(len(out), dtype=bool)
    order = []
    for r in ref:
        dist = np.where(taken, np.inf, np.abs(out - r).max(axis=1))
        j = int(np.argmin(dist))
        taken[j] = True
        order.append(j)
    idx = np.asarray(order, dtype=np.int64)
    return {k: (v[idx] if k in names else v) for k, v in output.items()}
