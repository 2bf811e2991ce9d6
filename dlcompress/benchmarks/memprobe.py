"""Peak memory of loading and running one model, measured in a fresh child process.

Usage (internal): ``python -m dlcompress.benchmarks.memprobe FORMAT PATH SPEC_JSON THREADS`` prints JSON with
the process's peak RSS before loading (imports only) and after loading plus a few inferences.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np


def _rss_mb() -> float:
    """Peak resident memory of this process image. VmHWM resets at exec, unlike ``ru_maxrss``, which keeps
    the parent's size from before the exec."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _probe(fmt: str, path: str, inputs: list[dict], threads: int) -> dict[str, float]:
    feeds = {i["name"]: np.zeros(i["shape"], dtype=i["dtype"]) for i in inputs}
    if fmt == "onnx":
        import onnxruntime as ort

        baseline = _rss_mb()
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        for _ in range(3):
            sess.run(None, feeds)
    else:
        raise SystemExit(f"no memory probe for format {fmt}")
    peak = _rss_mb()
    return {"baseline_rss_mb": round(baseline, 1), "peak_rss_mb": round(peak, 1), "model_mb": round(peak - baseline, 1)}


def peak_memory(fmt: str, path: Path, inputs: list[dict], threads: int, timeout: float = 300) -> dict[str, float] | None:
    """Run the probe in a child process; None if it could not run (the report then says n/a)."""
    cmd = [sys.executable, "-m", "dlcompress.benchmarks.memprobe", fmt, str(path), json.dumps(inputs), str(threads)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError):
        return None


if __name__ == "__main__":
    fmt_, path_, inputs_, threads_ = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(_probe(fmt_, path_, inputs_, threads_)))
