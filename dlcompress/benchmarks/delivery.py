"""Which file a compression job delivers: never a quantized model slower than the fp32 one it came from.

The rows of a job's report are its snapshots, measured side by side in one run (interleaved timing, same
data). The delivered file is the last exported snapshot when it is at least as fast as the fp32 export it was
quantized from; otherwise the fp32 export is delivered, with the measured ratio as the reason, and the slower
file stays in the folder for whoever wants it for its size (``--deliver quantized`` delivers it anyway).
Weight-only precisions (``int4``, ``int8-weights``) exist to cut weight memory, so they are delivered for their
size, with their speed ratio stated.

``--backend auto`` (:func:`choose_fastest`) measures several backends' fp32 and quantized files in one run and
delivers the fastest that passes the fidelity gate (:func:`gate`): a quantized file that loses more than
``max_drop`` of the task metric (labelled data), or agrees with fp32 on fewer than ``AGREEMENT_GATE`` of the
top-1 classes / has a mean output cosine under ``COSINE_GATE`` (unlabelled data), is not a candidate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dlcompress.benchmarks.report import Row

DELIVER_CHOICES = ("fastest", "quantized")
DEFAULT_MAX_DROP = 0.01
"""The gate's largest drop of the task metric (1 point of top-1), NNCF's accuracy-control default too."""
AGREEMENT_GATE = 0.9
"""Unlabelled data: the smallest top-1 agreement with fp32 a delivered quantized classifier may have."""
COSINE_GATE = 0.99
"""Unlabelled data, no classes: the smallest mean output cosine to fp32 (embeddings, regressors)."""


def choose_delivery(rows: list[Row], prefer: str = "fastest", weight_only: bool = False) -> dict[str, Any]:
    """``{"variant", "file", "precision", "speedup", "reason"}`` for the file to ship; empty when no row was
    exported to a file (nothing to deliver). ``weight_only``: the last step was a weight-only method."""
    if prefer not in DELIVER_CHOICES:
        raise ValueError(f"deliver must be one of {DELIVER_CHOICES}, got {prefer!r}")
    exported = [r for r in rows if r.format != "torch" and r.status != "failed" and r.path]
    if not exported:
        return {}
    last = exported[-1]
    base = next((r for r in exported if r.precision == "fp32"), exported[0])
    ratio = _speedup(base, last)
    if last is base or ratio is None:
        return _pick(last, ratio, "the only measured export" if last is base else "no latency was measured")
    size = _size_note(last, base)
    speed = f"{ratio:.2f}x the speed of {base.variant} ({_p50(last)} vs {_p50(base)} ms p50, same run)"
    if weight_only:
        return _pick(last, ratio, f"weight-only {last.precision} is delivered for its size{size}; it runs {speed}")
    if ratio >= 1.0:
        return _pick(last, ratio, f"{last.precision} runs {speed}{size}")
    if prefer == "quantized":
        return _pick(last, ratio, f"--deliver quantized: {last.precision} is delivered although it runs {speed}{size}")
    return _pick(base, 1.0, f"{last.precision} runs {speed} on this machine, slower than {base.precision}, so "
                            f"{base.path} is delivered; {last.path} stays in the folder{size} "
                            "(--deliver quantized delivers it; see the diagnosis for why it is slower)")


def _pick(row: Row, ratio: float | None, reason: str) -> dict[str, Any]:
    return {"variant": row.variant, "file": row.path, "precision": row.precision,
            "speedup": None if ratio is None else round(ratio, 3), "reason": reason}


def _speedup(base: Row, row: Row) -> float | None:
    a, b = (base.latency or {}).get("p50_ms"), (row.latency or {}).get("p50_ms")
    return a / b if a and b else None


def _p50(row: Row) -> str:
    return f"{(row.latency or {})['p50_ms']:.2f}"


def _size_note(row: Row, base: Row) -> str:
    if not row.size_bytes or not base.size_bytes:
        return ""
    return f" ({row.size_bytes / 1e6:.1f} MB vs {base.size_bytes / 1e6:.1f} MB)"


def gate(row: Row, max_drop: float | None = None) -> str | None:
    """Why ``row`` fails the fidelity gate of ``--backend auto``; None when it passes (fp32 rows always do)."""
    if row.status == "failed":
        return row.reason or "it failed"
    if row.status == "outside-tolerance":
        return "its export is outside the validation tolerance"
    if row.precision == "fp32":
        return None
    drop = DEFAULT_MAX_DROP if max_drop is None else max_drop
    fid = row.fidelity or {}
    if row.metric_delta is not None and row.metric:
        if -row.metric_delta > drop + 1e-9:
            return f"{row.metric.get('name', 'metric')} drops {-row.metric_delta * 100:.2f} points (gate: {drop * 100:g})"
        return None
    if fid.get("top1_agreement") is not None:
        if fid["top1_agreement"] < AGREEMENT_GATE:
            return f"top-1 agreement with fp32 {fid['top1_agreement']:.3f} (gate: {AGREEMENT_GATE:g})"
        return None
    if fid.get("cosine") is not None and fid["cosine"] < COSINE_GATE:
        return f"output cosine to fp32 {fid['cosine']:.4f} (gate: {COSINE_GATE:g})"
    return None


def choose_fastest(rows: list[Row], max_drop: float | None = None, prefer: str = "fastest") -> dict[str, Any]:
    """``--backend auto``: the fastest exported row that passes :func:`gate`, measured in one run; the reason
    names every alternative with its p50 (or why it was not a candidate). ``prefer="quantized"``: the fastest
    quantized row that passes, where one does. Empty when nothing was exported."""
    if prefer not in DELIVER_CHOICES:
        raise ValueError(f"deliver must be one of {DELIVER_CHOICES}, got {prefer!r}")
    exported = [r for r in rows if r.format != "torch" and r.path]
    timed = [r for r in exported if (r.latency or {}).get("p50_ms")]
    if not timed:
        return choose_delivery(rows)
    failures = {r.variant: why for r in timed if (why := gate(r, max_drop)) is not None}
    candidates = [r for r in timed if r.variant not in failures]
    if not candidates:
        return {}
    quantized = [r for r in candidates if r.precision != "fp32"]
    if prefer == "quantized" and quantized:
        candidates = quantized
    best = min(candidates, key=lambda r: r.latency["p50_ms"])  # type: ignore[index]
    base = next((r for r in timed if r.precision == "fp32" and r.runtime == best.runtime), None) or timed[0]
    others = [f"{r.variant} {_p50(r)} ms" for r in sorted(candidates, key=lambda r: r.latency["p50_ms"])  # type: ignore[index]
              if r is not best]
    rejected = [f"{v} not a candidate: {why}" for v, why in failures.items()]
    what = "quantized file" if prefer == "quantized" and quantized else "file"
    reason = (f"--backend auto: the fastest {what} of the {len(timed)} measured that passes the fidelity gate, "
              f"{_p50(best)} ms p50" + (f"; then {', '.join(others)}" if others else "")
              + (f"; {'; '.join(rejected)}" if rejected else "") + " (same run)")
    return {**_pick(best, _speedup(base, best), reason), "runtime": best.runtime,
            "alternatives": [{"variant": r.variant, "runtime": r.runtime, "precision": r.precision,
                              "p50_ms": r.latency["p50_ms"], "gate": failures.get(r.variant, "passed")}  # type: ignore[index]
                             for r in timed]}
