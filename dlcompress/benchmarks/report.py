"""The Report: rows of variant x format x device with size, latency, memory, metric and fidelity.

``report.json`` is the canonical form (schema ``dlcompress.report``, versioned); Markdown and the terminal
table are rendered from it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = "dlcompress.report"
SCHEMA_VERSION = 1


@dataclass
class Row:
    """One measured variant. ``status``: validated | exported | outside-tolerance | failed | skipped."""

    variant: str
    format: str
    precision: str
    runtime: str
    device: str = "cpu"
    status: str = "validated"
    path: str | None = None
    size_bytes: int | None = None
    params: int | None = None
    macs: int | None = None
    latency: dict[str, Any] | None = None
    peak_memory: dict[str, Any] | None = None
    metric: dict[str, Any] | None = None
    metric_delta: float | None = None
    fidelity: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None
    speedup_vs_reference: float | None = None
    size_ratio_vs_reference: float | None = None
    reason: str | None = None
    pipeline: list[str] = field(default_factory=list)
    model: str | None = None
    backend: str | None = None
    batch: int | None = None
    runtime_info: dict[str, Any] | None = None
    execution: dict[str, Any] | None = None
    """What actually ran, read back from the runtime (version, threads, ``inference_precision`` ...)."""


@dataclass
class Report:
    command: str
    model: dict[str, Any]
    data: dict[str, Any]
    environment: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    benchmark: dict[str, Any] = field(default_factory=dict)
    diagnosis: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)
    estimates: list[dict[str, Any]] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    delivered: dict[str, Any] = field(default_factory=dict)
    """The file the job delivers and why (``benchmarks/delivery.py``); empty where nothing is chosen."""
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    schema: str = SCHEMA
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        return {"schema": d.pop("schema"), "schema_version": d.pop("schema_version"), **d}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        if data.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} file (schema {data.get('schema')!r})")
        if int(data.get("schema_version", 0)) > SCHEMA_VERSION:
            raise ValueError(f"report schema version {data['schema_version']} is newer than this dlcompress reads")
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "rows"}
        return cls(rows=[Row(**r) for r in data.get("rows", [])], **fields)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, default=str)

    def reference(self) -> Row | None:
        return next((r for r in self.rows if r.precision == "fp32" and r.status != "failed"), None)

    # ---------------------------------------------------------------------------------------------- render
    def table(self) -> tuple[list[str], list[list[str]]]:
        """Header and cells shared by the Markdown and terminal renderings."""
        multi = len({r.model for r in self.rows if r.model}) > 1
        ppl = any("perplexity" in (r.metric or {}) for r in self.rows)  # a language model: next to its accuracy
        header = ["variant", "format", "runtime", "status", "size MB", "p50 ms", "p90 ms", "p99 ms", "items/s",
                  "speed-up", "peak MB", self.metric_name() or "metric", "Δ metric", *(["perplexity"] if ppl else []),
                  "top-1 agree", "cosine", "max |Δ|"]
        rows = []
        for r in self.rows:
            lat = r.latency or {}
            fid = r.fidelity or {}
            rows.append([
                f"{r.model}:{r.variant}" if multi and r.model else r.variant, r.format, _runtime(r), r.status,
                _num(r.size_bytes / 1e6 if r.size_bytes else None, 2),
                _num(lat.get("p50_ms"), 2), _num(lat.get("p90_ms"), 2), _num(lat.get("p99_ms"), 2),
                _num(lat.get("throughput_per_s"), 1),
                f"{r.speedup_vs_reference:.2f}x" if r.speedup_vs_reference else "",
                _num((r.peak_memory or {}).get("peak_rss_mb"), 0),
                _num((r.metric or {}).get("value"), 4), _signed(r.metric_delta),
                *([_num((r.metric or {}).get("perplexity"), 2)] if ppl else []),
                _num(fid.get("top1_agreement"), 4), _num(fid.get("cosine"), 5), _sci(fid.get("max_abs_diff")),
            ])
        return header, rows

    def metric_name(self) -> str | None:
        return next(((r.metric or {}).get("name") for r in self.rows if r.metric), None)

    def to_markdown(self) -> str:
        m, d, env = self.model, self.data, self.environment
        cpu = env.get("cpu", {})
        lat = next((r.latency for r in self.rows if r.latency), None) or {}
        lines = [
            f"# dlcompress {self.command}: {m.get('name')}",
            "",
            f"- created: {self.created}",
            f"- model: `{m.get('name')}` ({m.get('task')}), {m.get('signature', '')}",
            f"- weights: {m.get('weights', 'n/a')}; params {human_count(m.get('params'))}, MACs {human_count(m.get('macs'))}",
            f"- data: {d.get('name')} (calibration {d.get('calibration_samples')} samples, evaluation "
            f"{d.get('evaluation_samples')} held-out samples{'' if d.get('labelled') else ', no labels: fidelity only'})",
            f"- machine: {cpu.get('model')}, {cpu.get('cores')} cores, flags {', '.join(cpu.get('flags', [])) or 'none'}",
            f"- latency: batch {lat.get('batch', '?')}, {lat.get('threads', '?')} threads, "
            f"{self.benchmark.get('warmup', '?')} warm-up calls excluded, variants interleaved",
            *([f"- **delivered**: `{self.delivered['file']}` ({self.delivered['variant']}): {self.delivered['reason']}"]
              if self.delivered else []),
            "",
        ]
        header, rows = self.table()
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for cells in rows:
            lines.append("| " + " | ".join(c or "" for c in cells) + " |")
        failed = [r for r in self.rows if r.reason]
        if failed:
            lines += ["", "## Notes per variant", ""] + [f"- **{r.variant}** ({r.status}): {r.reason}" for r in failed]
        if self.diagnosis:
            lines += ["", "## Diagnosis", ""] + [f"- {x}" for x in self.diagnosis]
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {x}" for x in self.notes]
        if self.artifacts:
            lines += ["", "## Artifacts", ""] + [f"- `{k}`: {v}" for k, v in self.artifacts.items()]
        return "\n".join(lines) + "\n"

    def render(self, console: Any) -> None:
        """A rich table (and diagnosis) on ``console``."""
        from rich.markup import escape
        from rich.table import Table

        header, rows = self.table()
        keep = [i for i, _ in enumerate(header) if any(r[i] for r in rows)]
        t = Table(title=escape(f"dlcompress {self.command}: {self.model.get('name')}"), show_lines=False)
        for i in keep:
            t.add_column(header[i], justify="left" if i < 4 else "right", no_wrap=i < 4)
        for r in rows:
            t.add_row(*[escape(r[i]) for i in keep])
        console.print(t)
        for r in self.rows:
            if r.reason:
                console.print(f"[yellow]{escape(r.variant)}[/yellow] ({r.status}): {escape(r.reason)}")
        for line in self.diagnosis:
            console.print(f"[bold red]why:[/bold red] {escape(line)}")
        for line in self.notes:
            console.print(f"[dim]note:[/dim] {escape(line)}")
        if self.delivered:
            console.print(f"[bold green]{escape(delivery_line(self.delivered))}[/bold green]")


def delivery_line(delivered: dict[str, Any]) -> str:
    """The delivered file (``benchmarks/delivery.py``) as one line for the terminal."""
    return f"deliver {delivered['file']} ({delivered['variant']}, {delivered['precision']}): {delivered['reason']}"


def _runtime(r: Row) -> str:
    """The runtime, with the float precision it computed in where the runtime chooses one (OpenVINO)."""
    precision = (r.execution or {}).get("inference_precision")
    return f"{r.runtime} ({precision})" if precision else r.runtime


def _num(v: Any, digits: int) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def _signed(v: float | None) -> str:
    return "" if v is None else f"{v:+.4f}"


def _sci(v: Any) -> str:
    return "" if v is None else f"{v:.2e}"


def human_count(v: float | None, missing: str = "n/a") -> str:
    """A count with a G/M/k suffix (``25.56M``); ``missing`` for None."""
    if v is None:
        return missing
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= size:
            return f"{v / size:.2f}{unit}"
    return str(v)


def load_report(path: Path) -> Report:
    """A report from ``report.json`` (or a folder holding one)."""
    p = path / "report.json" if path.is_dir() else path
    return Report.from_json(json.loads(p.read_text()))
