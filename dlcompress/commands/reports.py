"""``dlcompress report``: merge and re-render earlier runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def register(app: typer.Typer) -> None:
    """Add ``dlcompress report`` to ``app``."""

    @app.command("report")
    def report(
        runs: Annotated[list[Path], typer.Argument(help="Folders (or report.json files) of earlier quantize/bench runs.")],
        out: Annotated[Optional[Path], typer.Option(help="Write the merged report.json/md/html and plots here.")] = None,
        overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the merged report JSON on stdout.")] = False,
    ) -> None:
        """Merge earlier runs into one comparison table (and HTML with plots, with --out)."""
        from dlcompress.commands.options import out_console
        from dlcompress.recipes.merge import merge_reports, write_merged
        from dlcompress.toolkit.outputs import check_writable

        if out is not None:
            check_writable(out, overwrite)
        merged = merge_reports(runs)
        if out is not None:
            write_merged(merged, out, overwrite)
        if as_json:
            print(merged.dumps())
        else:
            merged.render(out_console())
            if out is not None:
                out_console().print(f"wrote {out}/")
