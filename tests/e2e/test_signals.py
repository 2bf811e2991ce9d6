"""SIGTERM (docker stop, CI time-outs, kill) cleans up as Ctrl-C does: no output, no partial folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _start_quantize(out: Path) -> subprocess.Popen:
    env = {**os.environ, "DLCOMPRESS_QUIET": "1"}
    cmd = [sys.executable, "-m", "dlcompress", "quantize", "--model", "small_cnn", "--data", "fashion-mnist",
           "--calib-samples", "16", "--eval-samples", "64", "--bench-seconds", "60", "--threads", "1",
           "--exporter", "torchscript", "--out", str(out)]  # the faster-starting exporter: the signal is the point
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_staging(proc: subprocess.Popen, parent: Path, name: str, limit: float = 240.0) -> list[Path]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        staged = list(parent.glob(f".{name}.partial-*"))
        if staged and any(staged[0].iterdir()):  # work is being written into the staging folder
            return staged
        time.sleep(0.2)
    return []


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 128 + signal.SIGTERM),
                                          pytest.param(signal.SIGINT, 130, marks=pytest.mark.slow)],
                         ids=["sigterm", "sigint"])
def test_a_signal_mid_quantize_leaves_no_output_and_no_partial_folder(tmp_path, signum, code):
    out = tmp_path / "job"
    proc = _start_quantize(out)
    try:
        staged = _wait_for_staging(proc, tmp_path, out.name)
        assert staged, f"the job ended before it staged any output: {proc.communicate()[1][-2000:]}"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err[-2000:]
    assert "Traceback" not in err
    assert "nothing was left half-written" in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [], [p.name for p in tmp_path.iterdir()]
