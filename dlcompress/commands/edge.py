"""``dlcompress edgetpu-check``: Edge TPU readiness of a full-int8 ``.tflite``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

PLACEMENT_STYLE = {"tpu": "green", "cpu": "bold red", "cpu (after fallback)": "red", "cpu (before segment)": "yellow"}


def register(app: typer.Typer) -> None:
    """Add ``dlcompress edgetpu-check`` to ``app``."""

    @app.command("edgetpu-check")
    def edgetpu_check(
        file: Annotated[Path, typer.Argument(help="A .tflite model (full-int8 for the Edge TPU, e.g. from "
                                                  "`dlcompress quantize --backend litert --int8-io`).")],
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    ) -> None:
        """List every op and say which the Edge TPU compiler would map and which would fall back to the CPU."""
        from rich.markup import escape
        from rich.table import Table

        from dlcompress.commands.options import out_console
        from dlcompress.toolkit.edgetpu import check_edgetpu

        report = check_edgetpu(file)
        if as_json:
            print(json.dumps(report.to_json(), indent=2))
            return
        console = out_console()
        table = Table(title=f"Edge TPU check: {escape(file.name)}", title_justify="left")
        for col in ("#", "op", "runs on", "why / documented limitation"):
            table.add_column(col)
        for c in report.ops:
            style = PLACEMENT_STYLE.get(c.placement, "")
            detail = c.reason if c.placement != "tpu" else c.limitation
            table.add_row(str(c.index), c.op, f"[{style}]{c.placement}[/{style}]", escape(detail))
        console.print(table)
        console.print(escape(report.summary()))
        for p in report.problems:
            console.print(f"[yellow]![/yellow] {escape(p)}")
        console.print("[dim]The compiler maps one segment: from the first op that the TPU supports up to the first "
                      "op it does not; that op and every op after it run on the CPU.[/dim]")
        console.print(f"[dim]source: {escape(report.source)}; {escape(report.notes[0])}[/dim]")
