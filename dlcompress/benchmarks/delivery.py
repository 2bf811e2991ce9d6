"""Which file a compression job delivers: never a quantized model slower than the fp32 one it came from.

The rows of a job's report are its snapshots, measured side by side in one run (interleaved timing, same
data). The delivered file is the last exported snapshot when it is at least as fast as the fp32 export it was
quantized from; otherwise the fp32 export is delivered, with the measured ratio as the reason, and the slower
file stays in the folder for whoever wants it for its size (``--deliver quantized`` delivers it anyway).
Weight-only precisions (``int4``, ``int8-weights``) exist to cut weight memory, so they are delivered for their
size, with their speed ratio stated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dlcompress.benchmarks.report import Row

DELIVER_CHOICES = ("fastest", "quantized")


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
