"""Progress bars and console output on stderr, so stdout stays clean for ``--json``."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from dlcompress.toolkit import terminal


class _TerminalStderr:
    """A file that writes wherever :func:`terminal.stream` points now (the real stderr while library output is
    logged; ``sys.stderr`` otherwise, pytest's capture included)."""

    def __getattr__(self, name: str) -> object:
        return getattr(terminal.stream(), name)


console = Console(file=_TerminalStderr(), highlight=False)  # type: ignore[arg-type]


@contextlib.contextmanager
def silenced(*logger_names: str, ignore_warnings: bool = False) -> Iterator[None]:
    """Swallow what a library prints on stdout and logs below ERROR (``--json`` keeps stdout for the report);
    ``""`` names the root logger. ``ignore_warnings``: Python warnings raised inside are dropped too."""
    loggers = [logging.getLogger(n or None) for n in logger_names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            if ignore_warnings:
                warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


QUIET_ENV = "DLCOMPRESS_QUIET"  # an environment variable, so child processes (torchrun ranks, probes) inherit it


def quiet() -> bool:
    return bool(os.environ.get(QUIET_ENV))


def set_quiet(flag: bool = True) -> None:
    """Switch progress output off for this process and its children (``--quiet``, ``--json``); never back on."""
    if flag:
        os.environ[QUIET_ENV] = "1"


class _Bar:
    """A one-task rich progress bar; a no-op when output is not a terminal or DLCOMPRESS_QUIET is set."""

    def __init__(self, label: str, total: int | None) -> None:
        self.enabled = not quiet() and terminal.stream().isatty()
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True)
        self.label, self.total = label, total
        self.task = None

    def __enter__(self) -> _Bar:
        if self.enabled:
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=self.total)
        return self

    def advance(self, n: int = 1) -> None:
        if self.enabled and self.task is not None:
            self.progress.advance(self.task, n)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.progress.stop()
            self.enabled = False


def progress_bar(label: str, total: int | None = None) -> _Bar:
    return _Bar(label, total)


def step(message: str) -> None:
    """One line of progress narration ("exporting to ONNX ...")."""
    if not quiet():
        console.print(f"[dim]•[/dim] {escape(message)}")


def note(message: str) -> None:
    """A line the user must notice (random init, fallbacks, tolerances)."""
    if not quiet():
        console.print(f"[yellow]![/yellow] {escape(message)}")
