"""The terminal belongs to dlcompress: what libraries print goes to a log file, not to the user.

Inside :func:`library_output_logged` file descriptor 2 (and so ``sys.stderr``, every logging handler that holds
it, native glog/absl lines, warnings, child processes) is pointed at a log file, while dlcompress's own lines
(progress, notes, the one-line errors) go to :func:`stream`, a copy of the real stderr. On success the log is
copied into the command's output folder as ``dlcompress.log`` (:func:`attach_log`, called by
:func:`~dlcompress.toolkit.outputs.atomic_dir`); after a failure it stays where :func:`log_path` says.
``--verbose`` (``DLCOMPRESS_VERBOSE=1``) leaves everything on the terminal as it was.

Where stderr is not the process's fd 2 (an embedding application, pytest's capture), nothing is redirected.
"""

from __future__ import annotations

import contextlib
import faulthandler
import io
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

VERBOSE_ENV = "DLCOMPRESS_VERBOSE"
LOG_NAME = "dlcompress.log"

_state: dict[str, object] = {}


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def set_verbose(flag: bool = True) -> None:
    """Library output stays on the terminal (``--verbose``); children inherit it."""
    if flag:
        os.environ[VERBOSE_ENV] = "1"


def stream() -> TextIO:
    """Where dlcompress's own stderr lines go: the real terminal, also while library output is logged."""
    terminal = _state.get("terminal")
    return terminal if isinstance(terminal, io.TextIOBase) else sys.stderr  # type: ignore[return-value]


def log_path() -> Path | None:
    """The library log of the running command, or None when nothing is being logged."""
    path = _state.get("path")
    return path if isinstance(path, Path) else None


def attach_log(folder: Path) -> None:
    """Copy the library log written so far into ``folder`` (an output folder about to be committed)."""
    path = log_path()
    if path is None:
        return
    for s in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            s.flush()
    with contextlib.suppress(OSError):
        shutil.copyfile(path, folder / LOG_NAME)


def keep_log() -> None:
    """Keep the log after the block (the command failed; its error line points to it)."""
    if "path" in _state:
        _state["keep"] = True


def _stderr_is_fd2() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


@contextlib.contextmanager
def library_output_logged() -> Iterator[Path | None]:
    """Point fd 2 at a fresh log file for the block; yield its path (None when nothing is redirected).

    The log is removed afterwards when the block succeeded (its copy is in the output folder) and kept when it
    raised, so the error line can point to it."""
    if verbose() or not _stderr_is_fd2() or "path" in _state:
        yield None
        return
    fd, name = tempfile.mkstemp(prefix=f"dlcompress-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".log")
    path = Path(name)
    sys.stderr.flush()
    saved = os.dup(2)
    terminal = io.TextIOWrapper(os.fdopen(saved, "wb", buffering=0), encoding=sys.stderr.encoding or "utf-8",
                                errors="backslashreplace", line_buffering=True, write_through=True)
    os.dup2(fd, 2)
    os.close(fd)
    _state.update(path=path, terminal=terminal)
    had_faulthandler = faulthandler.is_enabled()
    faulthandler.enable(file=terminal)  # a crash in native code still says so on the terminal
    ok = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            yield path
        ok = not _state.get("keep")
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)
        faulthandler.enable(file=sys.stderr) if had_faulthandler else faulthandler.disable()
        _state.clear()
        with contextlib.suppress(Exception):
            terminal.detach()
        if ok or path.stat().st_size == 0:
            path.unlink(missing_ok=True)
