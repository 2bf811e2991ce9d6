"""Quality gates for CI: ``--min-metric`` (every variant's task metric) and ``--max-drop`` (each variant's
metric drop against its fp32 reference, in metric units: 0.01 = one point of top-1)."""

from __future__ import annotations

from dataclasses import dataclass

from dlcompress.benchmarks.report import Report


@dataclass(frozen=True)
class Gates:
    min_metric: float | None = None
    max_drop: float | None = None

    @property
    def active(self) -> bool:
        return self.min_metric is not None or self.max_drop is not None


def check_gates(report: Report, gates: Gates) -> list[dict[str, object]]:
    """One result per (gate, measured variant); ``passed`` False makes the command exit non-zero."""
    results: list[dict[str, object]] = []
    for r in report.rows:
        if not r.metric or r.metric.get("value") is None:
            continue
        value = float(r.metric["value"])
        name = f"{r.model}:{r.variant}" if r.model else r.variant
        if gates.min_metric is not None:
            ok = value >= gates.min_metric
            results.append({"gate": "min_metric", "variant": name, "value": value, "limit": gates.min_metric,
                            "passed": ok, "message": f"{name} {r.metric['name']} {value:.4f} "
                                                     f"{'>=' if ok else '<'} {gates.min_metric}"})
        if gates.max_drop is not None and r.metric_delta is not None:
            drop = -float(r.metric_delta)
            ok = drop <= gates.max_drop
            results.append({"gate": "max_drop", "variant": name, "value": drop, "limit": gates.max_drop,
                            "passed": ok, "message": f"{name} drops {drop:.4f} {'<=' if ok else '>'} {gates.max_drop}"})
    return results
