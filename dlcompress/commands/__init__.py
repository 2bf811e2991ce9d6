"""CLI command groups beyond the core ones in :mod:`dlcompress.cli`, one module per area.

Each module defines ``register(app: typer.Typer) -> None`` and adds its commands there; :func:`register_all`
is called once by :mod:`dlcompress.cli`. Keep the commands thin: parse options, call the API, print.
"""

from __future__ import annotations

import importlib

import typer

MODULES = ("stages", "backends", "reports", "edge")


def register_all(app: typer.Typer) -> None:
    for name in MODULES:
        module = importlib.import_module(f"dlcompress.commands.{name}")
        module.register(app)
