"""The zoo x format matrix: every zoo entry through every deployment format, one isolated cell each.

A cell exports the entry (random-init weights, BatchNorm statistics re-estimated on real images where the
entry has image data) with the format's backend, validates it against torch (names, shapes, values within
the entry's tolerance), and with ``int8`` also quantizes it and measures fidelity against the fp32 export.
One cell's failure is recorded with its reason and never stops the run; a format whose backend is not
installed gets cells that say which extra installs it. Written as ``zoo-matrix.json`` + ``zoo-matrix.md``.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dlcompress.exporters import ExportOptions
from dlcompress.recipes.common import DataOptions, Prepared, init_runtimes, prepare
from dlcompress.recipes.export_steps import export_validated
from dlcompress.toolkit.artifact import Format
from dlcompress.toolkit.backends import Backend, backend_for
from dlcompress.toolkit.errors import (
    DatasetError,
    DLCompressError,
    UnsupportedError,
    describe_failure,
)
from dlcompress.toolkit.metrics import collect_outputs, fidelity
from dlcompress.toolkit.model_options import ModelOptions
from dlcompress.toolkit.outputs import atomic_file
from dlcompress.toolkit.progress import step
from dlcompress.toolkit.runtimes import open_runtime
from dlcompress.toolkit.stages.quantize import QuantizeOptions, check_options
from dlcompress.toolkit.stages.quantize import quantize as quantize_artifact
from dlcompress.zoo import MODELS, ModelSpec

SCHEMA = "dlcompress.zoo-matrix"
STATUSES = ("validated", "outside-tolerance", "failed", "unavailable")
CALIBRATION_SAMPLES = 16
FIDELITY_SAMPLES = 16
PACKAGES = ("torch", "onnxruntime", "openvino", "nncf", "litert-torch", "ai-edge-litert", "executorch")


@dataclass(frozen=True)
class MatrixOptions:
    """Which formats and entries. Default entries: each entry's tiny variant where one is registered, else the
    entry itself; ``full``: every real-size entry. ``models``: an fnmatch pattern over entry names."""

    formats: tuple[str, ...] = ("onnx", "openvino", "litert", "executorch")
    int8: bool = False
    full: bool = False
    models: str = "*"
    threads: int | None = None

    def __post_init__(self) -> None:
        known = [str(f) for f in Format if f is not Format.TORCH]
        for f in self.formats:
            if f not in known:
                raise UnsupportedError(f"unknown format {f!r} in --formats", f"use some of: {', '.join(known)}")
        if not self.formats:
            raise UnsupportedError("--formats is empty", f"use some of: {', '.join(known)}")


@dataclass
class Cell:
    """One entry in one format. ``status``: validated | outside-tolerance | failed | unavailable."""

    model: str
    format: str
    status: str
    reason: str | None = None
    backend: str | None = None
    route: str | None = None
    size_bytes: int | None = None
    max_abs_diff: float | None = None
    seconds: float | None = None
    int8: dict[str, Any] | None = None


@dataclass
class Matrix:
    options: MatrixOptions
    entries: list[dict[str, Any]] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)
    packages: dict[str, str] = field(default_factory=dict)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    def cell(self, model: str, fmt: str) -> Cell | None:
        return next((c for c in self.cells if c.model == model and c.format == fmt), None)

    def counts(self) -> dict[str, dict[str, int]]:
        """Per format: how many cells have each status."""
        return {f: {s: sum(1 for c in self.cells if c.format == f and c.status == s) for s in STATUSES}
                for f in self.options.formats}

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "schema_version": 1, "created": self.created, "options": asdict(self.options),
                "packages": self.packages, "counts": self.counts(), "entries": self.entries,
                "cells": [asdict(c) for c in self.cells]}

    def to_markdown(self) -> str:
        return render_markdown(self)


# --------------------------------------------------------------------------------------------- selection
def select_entries(options: MatrixOptions) -> list[ModelSpec]:
    """The entries to run (see :class:`MatrixOptions`), sorted by name."""
    specs = [MODELS.get(n) for n in MODELS.names(options.models)]
    if options.full:
        return [s for s in specs if s.card.tiny_of is None]
    everything = [MODELS.get(n) for n in MODELS.names()]
    has_tiny = {s.card.tiny_of for s in everything if s.card.tiny_of}
    return [s for s in specs if s.card.tiny_of is not None or s.name not in has_tiny]


# -------------------------------------------------------------------------------------------------- cells
def _prepare(spec: ModelSpec) -> tuple[Prepared, str | None]:
    """The entry with its default data; synthetic inputs when that data cannot be loaded here."""
    try:
        return prepare(spec.name, ModelOptions(), DataOptions(calib_samples=CALIBRATION_SAMPLES)), None
    except DatasetError as e:
        prepared = prepare(spec.name, ModelOptions(), DataOptions("synthetic", calib_samples=CALIBRATION_SAMPLES))
        return prepared, f"synthetic inputs ({e.message})"


def run_cell(prepared: Prepared, fmt: str, folder: Path, options: MatrixOptions) -> Cell:
    """Export + validate (+ int8) one entry in one format; every failure becomes the cell's reason."""
    name = prepared.spec.name
    backend = backend_for(fmt)
    if backend is None:
        return Cell(name, fmt, "unavailable", f"no backend for {fmt} is registered in this dlcompress build")
    try:
        backend.require()
    except DLCompressError as e:
        return Cell(name, fmt, "unavailable", str(e), backend=backend.name)
    start = time.perf_counter()
    runtime_options = init_runtimes(options.threads)
    try:
        variant = export_validated(prepared, folder, backend, ExportOptions(), runtime_options)
    except Exception as e:  # noqa: BLE001 - one cell's failure never stops the matrix
        return Cell(name, fmt, "failed", describe_failure(e), backend=backend.name, seconds=round(time.perf_counter() - start, 1))
    art = variant.artifact
    record = art.lineage[-1]
    cell = Cell(name, fmt, variant.status, variant.reason, backend=backend.name,
                route=str(record.params.get("route")) if record.stage == "export" else None,
                size_bytes=art.size_bytes, max_abs_diff=(variant.validation or {}).get("max_abs_diff"))
    if options.int8:
        cell.int8 = int8_cell(prepared, backend, art, folder, runtime_options)
    cell.seconds = round(time.perf_counter() - start, 1)
    return cell


def int8_cell(prepared: Prepared, backend: Backend, fp32: Any, folder: Path, runtime_options: Any) -> dict[str, Any]:
    """Quantize the fp32 export (the entry's preferred method where the backend has it, else static int8)
    and compare its outputs with the fp32 export's on held-out inputs."""
    fmt = str(backend.format)
    method = prepared.spec.hint("quantize", "method") or "static"
    try:
        check_options(fmt, QuantizeOptions(method=method))
    except UnsupportedError:
        method = "static"
    try:
        calib = prepared.calibration(CALIBRATION_SAMPLES) if method == "static" else None
        q = quantize_artifact(fp32, QuantizeOptions(method=method, samples=CALIBRATION_SAMPLES), calib,
                              folder / backend.filename("int8"))
        feeds = prepared.feeds("test", FIDELITY_SAMPLES, 8)
        ref = collect_outputs(open_runtime(fp32, runtime_options, backend.runtime), feeds)
        out = collect_outputs(open_runtime(q, runtime_options, backend.runtime), feeds)
        fid = fidelity(ref, out, "classification" in prepared.spec.task)
    except Exception as e:  # noqa: BLE001 - recorded in the cell
        return {"status": "failed", "method": method, "reason": describe_failure(e)}
    return {"status": "quantized", "method": method, "reason": None, "size_bytes": q.size_bytes,
            "size_ratio": round(q.size_bytes / fp32.size_bytes, 4) if fp32.size_bytes else None,
            "cosine": round(fid.cosine, 6), "top1_agreement": fid.top1_agreement,
            "max_abs_diff": round(fid.max_abs_diff, 6), "reference_abs_max": round(fid.reference_abs_max, 6)}


# --------------------------------------------------------------------------------------------------- run
def run_matrix(options: MatrixOptions) -> Matrix:
    """Every selected entry through every format, in a scratch folder that is removed at the end."""
    matrix = Matrix(options, packages=_versions())
    specs = select_entries(options)
    if not specs:
        raise DLCompressError(f"no zoo entry matches {options.models!r}" + ("" if options.full else " (tiny variants)"),
                              "run dlcompress zoo list")
    for i, spec in enumerate(specs, 1):
        step(f"[{i}/{len(specs)}] {spec.name}")
        entry: dict[str, Any] = {"name": spec.name, "family": spec.card.family, "task": spec.task, "tiny_of": spec.card.tiny_of}
        matrix.entries.append(entry)
        scratch = Path(tempfile.mkdtemp(prefix=f"dlc-matrix-{spec.name}-"))
        try:
            prepared, data_note = _prepare(spec)
            entry.update(params=prepared.params, data=prepared.data.name, note=data_note)
        except Exception as e:  # noqa: BLE001 - the entry itself does not build: every cell says why
            reason = f"model could not be prepared: {describe_failure(e)}"
            entry["note"] = reason
            matrix.cells += [Cell(spec.name, f, "failed", reason) for f in options.formats]
            shutil.rmtree(scratch, ignore_errors=True)
            continue
        for fmt in options.formats:
            folder = scratch / fmt
            folder.mkdir()
            cell = run_cell(prepared, fmt, folder, options)
            step(f"  {fmt}: {cell.status}" + (f" ({cell.reason[:120]})" if cell.reason else ""))
            matrix.cells.append(cell)
        shutil.rmtree(scratch, ignore_errors=True)
    return matrix


def load_matrix(path: Path) -> Matrix:
    """A matrix written by :func:`write_matrix` (its ``zoo-matrix.json``)."""
    if not path.is_file():
        raise DLCompressError(f"{path} does not exist, so there is no matrix to update",
                              "run dlcompress zoo matrix --out FOLDER first, or drop --update")
    data = json.loads(path.read_text())
    if data.get("schema") != SCHEMA:
        raise DLCompressError(f"{path} is not a zoo matrix (schema {data.get('schema')!r})", "point --out at a folder "
                              "with a zoo-matrix.json written by dlcompress zoo matrix")
    options = MatrixOptions(**{k: (tuple(v) if k == "formats" else v) for k, v in data["options"].items()})
    return Matrix(options, data["entries"], [Cell(**c) for c in data["cells"]], data.get("packages", {}), data["created"])


def update_matrix(old: Matrix, new: Matrix) -> Matrix:
    """``old`` with the entries and cells that ``new`` re-ran replaced (same formats and sizes required); the
    packages are the new run's, and ``created`` says which entries were re-run when."""
    if new.options.full != old.options.full or not set(new.options.formats) <= set(old.options.formats):
        raise DLCompressError(f"the matrix being updated has formats {', '.join(old.options.formats)} and "
                              f"{'full' if old.options.full else 'tiny'} entries; this run does not fit it",
                              "use the same --full and a subset of its --formats")
    rerun = {e["name"] for e in new.entries}
    entries = [next((e for e in new.entries if e["name"] == o["name"]), o) for o in old.entries]
    entries += [e for e in new.entries if e["name"] not in {o["name"] for o in old.entries}]
    replaced = {(c.model, c.format) for c in new.cells}
    cells = [c for c in old.cells if (c.model, c.format) not in replaced] + new.cells
    order = {e["name"]: i for i, e in enumerate(entries)}
    cells.sort(key=lambda c: (order.get(c.model, len(order)), old.options.formats.index(c.format)))
    created = f"{old.created}; {', '.join(sorted(rerun))} / {', '.join(new.options.formats)} re-run {new.created}"
    return Matrix(old.options, entries, cells, new.packages, created)


def write_matrix(matrix: Matrix, out: Path) -> tuple[Path, Path]:
    """``out/zoo-matrix.json`` and ``out/zoo-matrix.md``, each written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    paths = (out / "zoo-matrix.json", out / "zoo-matrix.md")
    for path, text in zip(paths, (json.dumps(matrix.to_json(), indent=2, default=str) + "\n", matrix.to_markdown())):
        with atomic_file(path, overwrite=True) as tmp:
            tmp.write_text(text)
            tmp.chmod(0o644)  # a document, readable by all (the staging file is created 0600)
    return paths


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


# ------------------------------------------------------------------------------------------------ markdown
LABELS = {"validated": "validated", "outside-tolerance": "outside tolerance", "failed": "**failed**",
          "unavailable": "not installed"}


def cell_text(cell: Cell | None, note: int | None) -> str:
    """The table cell: status, then size and max |diff| (and int8 fidelity), then a reason reference."""
    if cell is None:
        return ""
    parts = [LABELS.get(cell.status, cell.status)]
    if cell.size_bytes is not None:
        parts.append(f"{cell.size_bytes / 1e6:.2f} MB")
    if cell.max_abs_diff is not None:
        parts.append(f"Δ {cell.max_abs_diff:.1e}")
    q = cell.int8
    if q:
        if q["status"] == "quantized":
            parts.append(f"int8 {q['size_ratio']:.2f}x, cos {q['cosine']:.4f}" if q.get("size_ratio") else f"int8 cos {q['cosine']:.4f}")
        else:
            parts.append("int8 **failed**")
    text = " · ".join(parts)
    return f"{text} [{note}]" if note is not None else text


def render_markdown(matrix: Matrix) -> str:
    o = matrix.options
    lines = [
        "# dlcompress zoo × format matrix",
        "",
        "Generated by `dlcompress zoo matrix"
        + (f" --formats {','.join(o.formats)}" if o.formats else "") + (" --int8" if o.int8 else "")
        + (" --full" if o.full else "") + (f" --models '{o.models}'" if o.models != "*" else "")
        + f"` on {matrix.created}; do not edit by hand.",
        "",
        "Each cell exports the entry (random-init weights; BatchNorm statistics re-estimated on real images) "
        "with the format's backend and validates it against PyTorch on generated and real inputs: output names, "
        "shapes, then values within the entry's tolerance. **validated** = all within tolerance; "
        "**outside tolerance** = exported and runs, but values differ more than allowed; **failed** = no "
        "runnable export (reason below); **not installed** = the backend's extra is missing. "
        "Δ = max abs difference vs PyTorch. "
        + ("int8: size vs fp32 and cosine similarity of the outputs vs the fp32 export. " if o.int8 else "")
        + ("Entries are the tiny test variants where one is registered, else the entry itself."
           if not o.full else "Entries at their real size."),
        "",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in matrix.packages.items()),
        "",
        "| format | validated | outside tolerance | failed | not installed |",
        "|---|---|---|---|---|",
    ]
    total = len(matrix.entries)
    for fmt, c in matrix.counts().items():
        lines.append(f"| {fmt} | {c['validated']}/{total} | {c['outside-tolerance']} | {c['failed']} | {c['unavailable']} |")
    lines += ["", "| model | family | task | " + " | ".join(o.formats) + " |",
              "|---|---|---|" + "---|" * len(o.formats)]
    notes: list[str] = []
    for e in matrix.entries:
        cells = []
        for fmt in o.formats:
            cell = matrix.cell(e["name"], fmt)
            why = []
            if cell is not None and cell.reason:
                why.append(cell.reason)
            if cell is not None and cell.int8 and cell.int8.get("reason"):
                why.append("int8: " + cell.int8["reason"])
            ref = None
            if why:
                notes.append(f"{e['name']} / {fmt}: " + "; ".join(why).replace("|", "\\|"))
                ref = len(notes)
            cells.append(cell_text(cell, ref))
        lines.append(f"| `{e['name']}` | {e['family']} | {e['task']} | " + " | ".join(cells) + " |")
    if notes:
        lines += ["", "## Reasons", ""] + [f"{i}. {n}" for i, n in enumerate(notes, 1)]
    data_notes = [f"- `{e['name']}`: {e['note']}" for e in matrix.entries if e.get("note")]
    if data_notes:
        lines += ["", "## Entry notes", ""] + data_notes
    return "\n".join(lines) + "\n"
