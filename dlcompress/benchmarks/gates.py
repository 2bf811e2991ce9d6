"""Quality gates for CI: ``--min-metric`` (every variant's task metric) and ``--max-drop`` (each variant's
metric drop against its fp32 reference, in metric units: 0.01 = one point of top-1); recipes add
``min_speedup`` (each compressed variant's p50 speed-up over its reference) and ``max_size_mb``."""

from __future__ import annotations

from dataclasses import dataclass

from dlcompress.benchmarks.report import Report, Row


@dataclass(frozen=True)
class Gates:
    min_metric: float | None = None
    max_drop: float | None = None
    min_speedup: float | None = None
    max_size_mb: float | None = None

    @property
    def active(self) -> bool:
        """Gates on the task metric are set (they need labelled data)."""
        return self.min_metric is not None or self.max_drop is not None


def check_gates(report: Report, gates: Gates, rows: list[Row] | None = None) -> list[dict[str, object]]:
    """One result per (gate, measured variant) over ``rows`` (default: every row of the report); ``passed``
    False makes the command exit non-zero."""
    results: list[dict[str, object]] = []
    for r in report.rows if rows is None else rows:
        name = f"{r.model}:{r.variant}" if r.model else r.variant
        if gates.min_speedup is not None and r.speedup_vs_reference is not None:
            ok = r.speedup_vs_reference >= gates.min_speedup
            results.append({"gate": "min_speedup", "variant": name, "value": r.speedup_vs_reference,
                            "limit": gates.min_speedup, "passed": ok,
                            "message": f"{name} is {r.speedup_vs_reference:.2f}x {'>=' if ok else '<'} {gates.min_speedup}x"})
        if gates.max_size_mb is not None and r.size_bytes is not None and r.speedup_vs_reference is not None:
            mb = r.size_bytes / 1e6
            ok = mb <= gates.max_size_mb
            results.append({"gate": "max_size_mb", "variant": name, "value": mb, "limit": gates.max_size_mb,
                            "passed": ok, "message": f"{name} is {mb:.2f} MB {'<=' if ok else '>'} {gates.max_size_mb} MB"})
        agreement = (r.fidelity or {}).get("top1_agreement")
        if (not r.metric or r.metric.get("value") is None) and gates.max_drop is not None and agreement is not None \
                and r.speedup_vs_reference is not None:  # no labels: the share of predictions that changed
            drop = 1.0 - float(agreement)
            ok = drop <= gates.max_drop
            results.append({"gate": "max_drop", "variant": name, "value": drop, "limit": gates.max_drop, "passed": ok,
                            "message": f"{name} changes {drop:.4f} of fp32's predictions {'<=' if ok else '>'} "
                                       f"{gates.max_drop} (no labels: top-1 agreement)"})
        if not r.metric or r.metric.get("value") is None:
            continue
        value = float(r.metric["value"])
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


def unmeasured_gates(gates: Gates, results: list[dict[str, object]]) -> list[dict[str, object]]:
    """A failed result for each gate that is set but measured nothing (e.g. ``min_metric`` on unlabelled data):
    a gate that cannot be checked must not pass silently."""
    asked = {k: getattr(gates, k) for k in ("min_metric", "max_drop", "min_speedup", "max_size_mb")}
    measured = {r["gate"] for r in results}
    return [{"gate": k, "variant": "-", "value": None, "limit": v, "passed": False,
             "message": f"{k} {v} measured nothing: "
                        + ("the data has no labels and no variant has a top-1 agreement" if k in ("min_metric", "max_drop")
                           else "no compressed variant was measured against a reference")}
            for k, v in asked.items() if v is not None and k not in measured]
