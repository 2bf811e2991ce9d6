"""``dlcompress zoo list | show | matrix``: the model zoo's entries, and every entry through every format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from dlcompress.benchmarks.report import human_count
from dlcompress.commands.options import FORMAT_NAMES, JsonOpt, out_console
from dlcompress.toolkit.errors import DLCompressError


def register(app: typer.Typer) -> None:
    """Add the ``zoo`` command group to ``app``."""
    zoo_app = typer.Typer(no_args_is_help=True, help="The model zoo: list entries, show one.")
    zoo_app.command("list")(zoo_list)
    zoo_app.command("show")(zoo_show)
    zoo_app.command("matrix")(zoo_matrix)
    app.add_typer(zoo_app, name="zoo")


def zoo_list(
    patterns: Annotated[Optional[list[str]], typer.Argument(
        help="fnmatch patterns, e.g. 'resnet*' 'mobilenet*' (an entry matching any is listed); all when none.",
        show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every zoo entry with task, params, MACs and input shape (computed from the real model)."""
    from rich.table import Table

    from dlcompress.recipes.zoo import zoo_entries

    asked = tuple(patterns or ("*",))
    entries = zoo_entries(asked)
    if not entries:
        raise DLCompressError(f"no zoo entry matches {' '.join(repr(p) for p in asked)}", "run dlcompress zoo list")
    if as_json:
        print(json.dumps([e.to_json() for e in entries], indent=2))
        return
    t = Table(title=f"dlcompress zoo ({len(entries)} entries)")
    for col in ("name", "family", "task", "params", "MACs", "input"):
        t.add_column(col, justify="right" if col in ("params", "MACs") else "left")
    for e in entries:
        t.add_row(e.spec.name, e.spec.card.family, e.spec.task, human_count(e.params), human_count(e.macs),
                  escape(", ".join(i.describe() for i in e.spec.inputs)))
    out_console().print(t)


def zoo_show(name: Annotated[str, typer.Argument(help="Zoo entry name.")], as_json: JsonOpt = False) -> None:
    """One entry's spec: task, inputs, outputs, params, MACs, source paper, export notes."""
    from dlcompress.recipes.zoo import zoo_entry

    entry = zoo_entry(name)
    d = entry.to_json()
    if as_json:
        print(json.dumps(d, indent=2))
        return
    c = out_console()
    s = entry.spec
    c.print(f"[bold]{s.name}[/bold]  ({s.card.family}, {s.task})")
    c.print(escape(f"  inputs:  {', '.join(t.describe() for t in s.inputs)}"))
    c.print(escape(f"  outputs: {', '.join(t.describe() for t in s.outputs)}"))
    c.print(f"  params:  {human_count(entry.params)}   MACs: {human_count(entry.macs)} (batch 1)")
    c.print(escape(f"  preprocessing: mean {s.preprocess.mean or 'none'}, std {s.preprocess.std or 'none'}; default data: {s.card.default_data}"))
    c.print(f"  tolerance: atol {s.tolerance.atol:g}, rtol {s.tolerance.rtol:g}")
    c.print(escape(f"  paper: {s.card.paper or 'n/a'}"))
    c.print(escape(f"  export: {s.card.export_notes or 'ONNX (dynamo exporter, TorchScript fallback)'}"))
    if entry.error:
        c.print(f"  [red]error computing complexity:[/red] {escape(entry.error)}")


def zoo_matrix(
    formats: Annotated[str, typer.Option(help=f"Comma-separated formats: {FORMAT_NAMES}.")] = "onnx,openvino,litert,executorch",
    int8: Annotated[bool, typer.Option("--int8", help="Also quantize each export and report int8 fidelity vs fp32.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Real-size entries (default: each entry's tiny variant where one exists).")] = False,
    models: Annotated[str, typer.Option(help="fnmatch pattern over entry names, e.g. 'resnet*'.")] = "*",
    threads: Annotated[Optional[int], typer.Option(min=1, help="Threads per runtime (default: all cores).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for zoo-matrix.md and zoo-matrix.json.")] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print the matrix JSON on stdout.")] = False,
    update: Annotated[bool, typer.Option("--update", help="Re-run only the --models entries (and --formats) and replace their cells in the matrix already in --out; the rest stays as it was.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Every zoo entry through every format: export + validation status (with the reason), size, max |diff|."""
    import contextlib
    import json
    import sys

    from dlcompress.recipes.matrix import (
        MatrixOptions,
        load_matrix,
        run_matrix,
        update_matrix,
        write_matrix,
    )
    from dlcompress.toolkit.progress import set_quiet

    set_quiet(quiet or as_json)
    options = MatrixOptions(tuple(f.strip() for f in formats.split(",") if f.strip()), int8, full, models, threads)
    old = load_matrix(out / "zoo-matrix.json") if update else None
    with contextlib.redirect_stdout(sys.stderr):  # model builders and converters print; stdout is for --json
        matrix = run_matrix(options)
    if old is not None:
        matrix = update_matrix(old, matrix)
    js, md = write_matrix(matrix, out)
    if as_json:
        print(json.dumps(matrix.to_json(), indent=2, default=str))
        return
    for fmt, c in matrix.counts().items():
        out_console().print(f"{fmt}: {c['validated']}/{len(matrix.entries)} validated, {c['outside-tolerance']} outside "
                            f"tolerance, {c['failed']} failed, {c['unavailable']} not installed")
    out_console().print(f"wrote {md} and {js}")
