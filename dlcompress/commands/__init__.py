"""The CLI's commands, one module per area; :func:`build_app` makes the typer app they register on.

Each module defines ``register(app: typer.Typer) -> None`` and adds its commands there, so no command module
imports :mod:`dlcompress.cli`. Keep the commands thin: parse options into the recipe layer's requests, run, print.
"""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

MODULES = ("core", "zoo", "stages", "reports", "edge", "backends", "recipes", "explain")
HELP = ("Compress models (int8/fp16 quantization), export them to deployment formats, and prove what was gained "
        "and lost with a side-by-side report. What the libraries print goes to dlcompress.log in the output folder; "
        "add --verbose anywhere on the line to see it on the terminal.")


def _version(value: bool) -> None:
    if value:
        from dlcompress import __version__

        print(f"dlcompress {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """The ``dlcompress`` app with every area's commands registered."""
    app = typer.Typer(name="dlcompress", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                      help=HELP)

    @app.callback()
    def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                     help="Print the version and exit.")] = False) -> None:
        """Compress models (int8/fp16 quantization), export them to deployment formats, and prove what was gained
        and lost with a side-by-side report."""

    for name in MODULES:
        importlib.import_module(f"dlcompress.commands.{name}").register(app)
    return app
