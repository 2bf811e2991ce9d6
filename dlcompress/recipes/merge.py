"""``dlcompress report DIR...``: merge earlier reports (quantize or bench) into one comparison."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dlcompress.benchmarks.html import render_html
from dlcompress.benchmarks.plots import write_plots
from dlcompress.benchmarks.report import Report, load_report
from dlcompress.toolkit.errors import DatasetError
from dlcompress.toolkit.outputs import atomic_dir


def merge_reports(paths: list[Path]) -> Report:
    """One report whose rows are all rows of the given reports, each tagged with its model and source run."""
    reports = []
    for p in paths:
        target = p / "report.json" if p.is_dir() else p
        if not target.exists():
            raise DatasetError(f"no report.json in {p}", "pass folders written by dlcompress quantize or bench")
        try:
            reports.append((p, load_report(p)))
        except ValueError as e:
            raise DatasetError(f"{target} is not a dlcompress report: {e}") from None
    merged = Report(command="report", model={"name": ", ".join(dict.fromkeys(str(r.model.get("name")) for _, r in reports))},
                    data={"name": ", ".join(dict.fromkeys(str(r.data.get("name")) for _, r in reports))},
                    environment=reports[0][1].environment)
    for path, r in reports:
        for row in r.rows:
            merged.rows.append(dataclasses.replace(row, model=row.model or str(r.model.get("name")),
                                                   variant=f"{row.variant} [{path.name}]" if len(reports) > 1 else row.variant))
        merged.diagnosis += [f"[{path.name}] {d}" for d in r.diagnosis]
        merged.notes += [f"[{path.name}] {n}" for n in r.notes]
        merged.estimates += r.estimates
        cpu = r.environment.get("cpu", {}).get("model")
        merged.notes.append(f"[{path.name}] {r.command} run of {r.created} on {cpu}")
    return merged


def write_merged(report: Report, out: Path, overwrite: bool) -> Path:
    with atomic_dir(out, overwrite) as folder:
        write_report_files(report, folder)
    return out


def write_report_files(report: Report, folder: Path) -> None:
    """``report.json``, ``report.md``, ``report.html`` and the plots of ``report`` into ``folder``."""
    plots = write_plots(report, folder / "plots")
    (folder / "report.json").write_text(report.dumps())
    (folder / "report.md").write_text(report.to_markdown())
    (folder / "report.html").write_text(render_html(report, plots))
