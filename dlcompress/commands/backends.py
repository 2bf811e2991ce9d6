"""CLI commands of this area (see dlcompress/commands/__init__.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``app``."""
    from dlcompress.cli import zoo_app

    zoo_app.command("matrix")(zoo_matrix)


def zoo_matrix(
    formats: Annotated[str, typer.Option(help="Comma-separated formats: onnx, openvino, litert.")] = "onnx,openvino,litert",
    int8: Annotated[bool, typer.Option("--int8", help="Also quantize each export and report int8 fidelity vs fp32.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Real-size entries (default: each entry's tiny variant where one exists).")] = False,
    models: Annotated[str, typer.Option(help="fnmatch pattern over entry names, e.g. 'resnet*'.")] = "*",
    threads: Annotated[Optional[int], typer.Option(min=1, help="Threads per runtime (default: all cores).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for zoo-matrix.md and zoo-matrix.json.")] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print the matrix JSON on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Every zoo entry through every format: export + validation status (with the reason), size, max |diff|."""
    import contextlib
    import json
    import sys

    from dlcompress.api.matrix import MatrixOptions, run_matrix, write_matrix
    from dlcompress.cli import out_console
    from dlcompress.toolkit.progress import set_quiet

    set_quiet(quiet or as_json)
    options = MatrixOptions(tuple(f.strip() for f in formats.split(",") if f.strip()), int8, full, models, threads)
    with contextlib.redirect_stdout(sys.stderr):  # model builders and converters print; stdout is for --json
        matrix = run_matrix(options)
    js, md = write_matrix(matrix, out)
    if as_json:
        print(json.dumps(matrix.to_json(), indent=2, default=str))
        return
    for fmt, c in matrix.counts().items():
        out_console().print(f"{fmt}: {c['validated']}/{len(matrix.entries)} validated, {c['outside-tolerance']} outside "
                            f"tolerance, {c['failed']} failed, {c['unavailable']} not installed")
    out_console().print(f"wrote {md} and {js}")
