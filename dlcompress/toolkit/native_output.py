"""Capture what native libraries print straight to file descriptors 1 and 2 (absl/glog lines, converter
progress, "Created TensorFlow Lite XNNPACK delegate"), which ``contextlib.redirect_stdout`` cannot catch.

The captured text is kept so an error can quote the library's own last words.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class Captured:
    text: str = ""

    def last_lines(self, n: int = 3, contains: str = "") -> list[str]:
        lines = [ln.strip() for ln in self.text.splitlines() if ln.strip() and contains.lower() in ln.lower()]
        return lines[-n:]


@contextlib.contextmanager
def native_output_captured() -> Iterator[Captured]:
    """Send fds 1/2 (and Python's ``sys.stdout``) to a temporary file for the duration of the block."""
    captured = Captured()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        saved = (os.dup(1), os.dup(2))
    except OSError:  # no real fds (embedded interpreters): capture Python-level output only
        with contextlib.redirect_stdout(io.StringIO()) as buf:
            yield captured
        captured.text = buf.getvalue()
        return
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        py_out = io.StringIO()
        try:
            with contextlib.redirect_stdout(py_out):
                yield captured
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            captured.text = sink.read().decode(errors="replace") + py_out.getvalue()
