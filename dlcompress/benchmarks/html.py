"""report.html: one self-contained page (tables, plots embedded as PNG, environment, diagnosis, estimates)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from dlcompress.benchmarks.report import Report

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f0f0f0} td:nth-child(-n+4){text-align:left}
.failed{color:#b00} .skipped{color:#888} img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
code{background:#f5f5f5;padding:1px 4px}
"""


def _table(header: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, r in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(report: Report, plots: dict[str, Path]) -> str:
    env = report.environment
    cpu = env.get("cpu", {})
    header, rows = report.table()
    classes = [r.status if r.status in ("failed", "skipped") else "" for r in report.rows]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>dlcompress {html.escape(report.command)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>dlcompress {html.escape(report.command)}: {html.escape(str(report.model.get('name')))}</h1>",
        f"<p>created {html.escape(report.created)} · CPU {html.escape(str(cpu.get('model')))}, {cpu.get('cores')} cores, "
        f"flags {html.escape(', '.join(cpu.get('flags', [])) or 'none')} · GPU {html.escape(str(env.get('gpu') or 'none'))}</p>",
        f"<p>data: {html.escape(str(report.data.get('name')))} · benchmark: {html.escape(str(report.benchmark))}</p>",
        "<h2>Results</h2>", _table(header, rows, classes),
    ]
    reasons = [(r.variant, r.status, r.reason) for r in report.rows if r.reason]
    if reasons:
        parts.append("<h2>Per-variant notes</h2><ul>" + "".join(
            f"<li><b>{html.escape(v)}</b> ({html.escape(s)}): {html.escape(t)}</li>" for v, s, t in reasons) + "</ul>")
    if report.diagnosis:
        parts.append("<h2>Why is a quantized variant not faster?</h2><ul>"
                     + "".join(f"<li>{html.escape(d)}</li>" for d in report.diagnosis) + "</ul>")
    for name, title in (("pareto", "Latency vs quality"), ("sizes", "Size per variant"), ("latency", "Latency distributions")):
        if name in plots:
            data = base64.b64encode(plots[name].read_bytes()).decode()
            parts.append(f"<h2>{title}</h2><img alt='{name}' src='data:image/png;base64,{data}'>")
    if report.estimates:
        est_header = ["model", "target", "precision", "estimate ms", "compute ms", "memory ms", "bound", "note"]
        est_rows = [[e.get("model", ""), e["target"], e["precision"], e.get("estimate_ms") or "", e.get("compute_ms", ""),
                     e.get("memory_ms", ""), e.get("bound", ""), e.get("reason", "")] for e in report.estimates]
        parts.append("<h2>Edge targets: roofline estimates (lower bounds, not measurements)</h2>" + _table(est_header, est_rows))
        from dlcompress.benchmarks.roofline import TARGETS

        parts.append("<ul>" + "".join(
            f"<li><b>{html.escape(t.name)}</b>: {html.escape(t.description)}. Source: {html.escape(t.source)}. "
            f"Derivation: {html.escape(t.derivation)}</li>" for t in TARGETS) + "</ul>")
    if report.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in report.notes) + "</ul>")
    pk = env.get("packages", {})
    parts.append("<h2>Environment</h2><p>" + html.escape(", ".join(f"{k} {v}" for k, v in pk.items())) + "</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
