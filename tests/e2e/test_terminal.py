"""The terminal belongs to dlcompress: library output goes to dlcompress.log in the output folder, and
``--verbose`` shows it; a bug is one line that points to the traceback in the log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
NOISE = ("NOISE-PRINT", "NOISE-LOG", "NOISE-WARNING", "NOISE-NATIVE")


def _quantize(out: Path, *extra: str) -> subprocess.CompletedProcess:
    """A fresh process (the TorchScript exporter: these tests are about the terminal, and it starts seconds faster
    than dynamo, which imports torch._dynamo and onnxscript's function table)."""
    cmd = [sys.executable, "-m", "dlcompress", "quantize", "--model", f"{DATA_DIR / 'noisy_net.py'}:build",
           "--input-shape", "1,3,16,16", "--data", "synthetic", "--calib-samples", "8", "--eval-samples", "8",
           "--bench-seconds", "1", "--threads", "1", "--exporter", "torchscript", "--out", str(out), *extra]
    env = {k: v for k, v in os.environ.items() if k not in ("DLCOMPRESS_VERBOSE",)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


def test_library_output_goes_to_the_log_in_the_output_folder(tmp_path):
    done = _quantize(tmp_path / "job")
    assert done.returncode == 0, done.stderr[-3000:]
    for word in NOISE:
        assert word not in done.stderr, f"{word} reached the terminal:\n{done.stderr[-2000:]}"
    assert "wrote " in done.stdout  # dlcompress's own output is untouched
    log = (tmp_path / "job" / "dlcompress.log").read_text()
    for word in NOISE:
        assert word in log, f"{word} is missing from the log:\n{log[-2000:]}"


def test_verbose_shows_library_output_and_leaves_no_log(tmp_path):
    cmd = [sys.executable, "-m", "dlcompress", "export", "--verbose", "--model", f"{DATA_DIR / 'noisy_net.py'}:build",
           "--input-shape", "1,3,16,16", "--exporter", "torchscript", "--out", str(tmp_path / "m.onnx")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env={k: v for k, v in os.environ.items() if k != "DLCOMPRESS_VERBOSE"})
    assert done.returncode == 0, done.stderr[-3000:]
    for word in NOISE:
        assert word in done.stderr, f"{word} not shown with --verbose:\n{done.stderr[-2000:]}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
