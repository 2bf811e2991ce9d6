"""Atomic outputs: everything is written into a hidden staging folder beside the target and renamed into
place at the end, so an interrupted or failed run never leaves a half-written result that looks complete."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from dlcompress.toolkit.errors import OutputExistsError, OutputNotWritableError
from dlcompress.toolkit.terminal import attach_log


def default_out_dir(model_name: str, root: Path = Path("dlcompress-out")) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_name)
    return root / f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_writable(target: Path, overwrite: bool) -> None:
    """Fail before any work if ``target`` exists and may not be replaced, or cannot be created where it is asked
    for (the nearest existing folder above it is a file, or not writable by this user)."""
    if target.exists() and not overwrite:
        raise OutputExistsError(f"output {target} already exists", "pass --overwrite to replace it, or choose another --out")
    above = Path(os.path.abspath(target)).parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise OutputNotWritableError(f"cannot write {target}: {above} is a file, not a folder", "choose another --out")
    if not os.access(above, os.W_OK | os.X_OK):
        raise OutputNotWritableError(f"cannot write {target}: {above} is not writable by this user (uid {os.getuid()})",
                                     "choose another --out, or run as a user who may write there (docker run: "
                                     "--user \"$(id -u):$(id -g)\")")


@contextlib.contextmanager
def atomic_dir(target: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a staging folder; on success it becomes ``target`` (replacing it only with ``overwrite``)."""
    check_writable(target, overwrite)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    except OSError as e:
        raise OutputNotWritableError(f"cannot write {target}: {e.strerror or e}", "choose another --out") from None
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    attach_log(staging)
    old = None
    if target.exists():
        check_writable(target, overwrite)
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_file(target: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target``."""
    check_writable(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.partial-", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    os.replace(tmp, target)
