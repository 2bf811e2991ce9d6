"""``dlcompress backends``: the deployment backends and the model sources, and what is missing for each."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add ``dlcompress backends`` to ``app``."""

    @app.command("backends")
    def backends(
        as_json: Annotated[bool, typer.Option("--json", help="Print the table as JSON.")] = False,
    ) -> None:
        """List the backends (--backend) and the kinds of model --model takes, each with whether it is installed
        and, where not, the command that installs it."""
        from rich.table import Table

        from dlcompress.commands.options import out_console
        from dlcompress.recipes.loading import MODEL_SOURCES
        from dlcompress.toolkit.backends import BACKENDS

        rows = []
        for name in BACKENDS.names():
            b = BACKENDS.get(name)
            hint = f"pip install 'dlcompress[{b.extra}]'" if b.extra else f"pip install {' '.join(b.requires)}"
            rows.append({"kind": "backend", "name": name, "what": b.description, "installed": b.available(),
                         "install": None if b.available() else hint})
        for name in sorted(MODEL_SOURCES.names(), key=lambda n: MODEL_SOURCES.get(n).order):
            s = MODEL_SOURCES.get(name)
            rows.append({"kind": "model source", "name": name, "what": f"{s.description}: {s.example}",
                         "installed": s.available(), "install": None if s.available() else s.install_hint()})
        if as_json:
            print(json.dumps(rows, indent=2))
            return
        table = Table(title="dlcompress backends and model sources", title_justify="left")
        for col in ("kind", "name", "what", "status"):
            table.add_column(col)
        for r in rows:
            status = "[green]installed[/]" if r["installed"] else f"[red]missing[/]: {r['install']}"
            table.add_row(r["kind"], r["name"], r["what"], status)
        out_console().print(table)
