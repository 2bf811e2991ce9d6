"""Signals: SIGTERM (``docker stop``, CI time-outs, ``kill``) cleans up exactly as Ctrl-C does.

Inside :func:`interrupts_handled` a SIGTERM raises :class:`Terminated`, a :class:`KeyboardInterrupt`, at the
point the program is at; every staging folder (:mod:`dlcompress.toolkit.outputs`), runtime and child process is
then released by the same ``except BaseException`` / ``finally`` paths that Ctrl-C takes. Which signal arrived
is recorded (:func:`received`), because command-line frameworks turn a ``KeyboardInterrupt`` into their own
exit codes (typer: ``Exit(130)``) and the caller still has to say what happened.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

_received: list[int] = []


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by a signal (``signum``) other than SIGINT."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


def _on_sigterm(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001 - signal handler signature
    _received.append(signum)
    signal.signal(signum, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short (SIGKILL still can)
    raise Terminated(signum)


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    signal.default_int_handler(signum, frame)


def received() -> int | None:
    """The first signal that interrupted the current :func:`interrupts_handled` block, or None."""
    return _received[0] if _received else None


@contextlib.contextmanager
def interrupts_handled() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Terminated` and SIGINT ``KeyboardInterrupt``, both recorded; the
    previous handlers are restored on exit. A no-op outside the main thread (no signal handlers there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    previous = {s: signal.signal(s, h) for s, h in ((signal.SIGTERM, _on_sigterm), (signal.SIGINT, _on_sigint))}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
