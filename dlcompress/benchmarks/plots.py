"""Report plots (matplotlib, Agg): latency vs quality with the Pareto front, size per variant, latency
distributions. Each is written as a PNG and embedded in report.html."""

from __future__ import annotations

import math
from pathlib import Path

from dlcompress.benchmarks.report import Report, Row


def _label(row: Row, multi_model: bool) -> str:
    return f"{row.model}:{row.variant}" if multi_model and row.model else row.variant


def quality(row: Row) -> tuple[float | None, str]:
    """The y-axis value: the task metric when measured, else top-1 agreement or cosine vs the reference."""
    if row.metric and row.metric.get("value") is not None:
        return float(row.metric["value"]), str(row.metric.get("name", "metric"))
    fid = row.fidelity or {}
    if fid.get("top1_agreement") is not None:
        return float(fid["top1_agreement"]), "top-1 agreement with fp32"
    if fid.get("cosine") is not None:
        return float(fid["cosine"]), "cosine similarity with fp32"
    return None, ""


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not dominated by another (lower latency and higher quality), sorted by latency."""
    front, best = [], float("-inf")
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return front


def short_label(row: Row, rows: list[Row]) -> str:
    """The variant name without the device and batch parts when every plotted row shares them."""
    if len({(r.device, r.batch) for r in rows}) == 1 and row.variant.count("/") >= 3:
        return "/".join(row.variant.split("/")[:2])
    return row.variant


def label_offsets(points: list[tuple[float, float]], all_y: list[float]) -> list[int]:
    """Vertical label offsets (points) so labels of near-coincident markers on a log-x plot are stacked, not
    drawn over each other."""
    span = (max(all_y) - min(all_y)) or 1.0
    placed: list[tuple[float, float, int]] = []
    offsets = []
    for x, y in points:
        lx, dy = math.log10(max(x, 1e-9)), 3
        while any(abs(lx - px) < 0.15 and abs(y - py) < 0.03 * span and pdy == dy for px, py, pdy in placed):
            dy -= 9
        placed.append((lx, y, dy))
        offsets.append(dy)
    return offsets


def write_plots(report: Report, folder: Path) -> dict[str, Path]:
    """Write pareto.png, sizes.png and latency.png into ``folder``; returns name -> path of those written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    rows = [r for r in report.rows if r.latency and r.status not in ("failed", "skipped")]
    multi = len({r.model for r in rows}) > 1
    out: dict[str, Path] = {}

    pts = [(r, r.latency["p50_ms"], *quality(r)) for r in rows]
    pts = [p for p in pts if p[2] is not None]
    if pts:
        fig, ax = plt.subplots(figsize=(9, 5.5))
        models = sorted({r.model or "" for r, *_ in pts})
        for i, model in enumerate(models):
            sel = [(x, y, r) for r, x, y, _ in pts if (r.model or "") == model]
            ax.scatter([s[0] for s in sel], [s[1] for s in sel], s=40, label=model or None, marker="os^Dv"[i % 5])
            for (x, y, r), dy in zip(sel, label_offsets([(x, y) for x, y, _ in sel], [p[2] for p in pts])):
                ax.annotate(short_label(r, rows), (x, y), fontsize=7, xytext=(3, dy), textcoords="offset points")
            front = pareto_front([(x, y) for x, y, _ in sel])
            ax.step([f[0] for f in front], [f[1] for f in front], where="post", alpha=0.5, linestyle="--")
        ax.set_xscale("log")
        ax.margins(x=0.12)  # room for the labels of the outermost markers
        ax.set_xlabel("p50 latency per call (ms, log scale)")
        ax.set_ylabel(pts[0][3])
        ax.set_title("Latency vs quality (dashed: Pareto front; up and left is better)")
        if len(models) > 1:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: never over a marker
        ax.grid(alpha=0.3)
        fig.tight_layout()
        out["pareto"] = folder / "pareto.png"
        fig.savefig(out["pareto"], dpi=110)
        plt.close(fig)

    sized = [r for r in report.rows if r.size_bytes]
    seen: dict[str, Row] = {}
    for r in sized:  # one bar per artifact, not per device/batch
        seen.setdefault(f"{r.model}:{r.backend}:{r.precision}", r)
    if seen:
        fig, ax = plt.subplots(figsize=(9, 0.35 * len(seen) + 1.5))
        names = [f"{r.model}:{r.backend or r.runtime}/{r.precision}" if multi else f"{r.backend or r.runtime}/{r.precision}"
                 for r in seen.values()]
        ax.barh(names, [r.size_bytes / 1e6 for r in seen.values()], color="tab:blue")
        ax.set_xlabel("model size on disk (MB)")
        ax.invert_yaxis()
        ax.set_title("Size per variant")
        fig.tight_layout()
        out["sizes"] = folder / "sizes.png"
        fig.savefig(out["sizes"], dpi=110)
        plt.close(fig)

    dist = [r for r in rows if r.latency.get("samples_ms")]
    if dist:
        fig, ax = plt.subplots(figsize=(9, 0.35 * len(dist) + 1.5))
        ax.boxplot([r.latency["samples_ms"] for r in dist], vert=False, showfliers=True)
        ax.set_yticks(range(1, len(dist) + 1), [_label(r, multi) for r in dist], fontsize=7)
        ax.set_xscale("log")
        ax.margins(x=0.12)  # room for the labels of the outermost markers
        ax.set_xlabel("latency per call (ms, log scale)")
        ax.set_title("Latency distributions (all timed calls; warm-up excluded)")
        ax.invert_yaxis()
        fig.tight_layout()
        out["latency"] = folder / "latency.png"
        fig.savefig(out["latency"], dpi=110)
        plt.close(fig)
    return out
