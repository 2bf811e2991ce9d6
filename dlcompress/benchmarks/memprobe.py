"""Peak memory of loading and running one model file, measured in a fresh child process.

The child imports only the runtime it needs (not torch unless the runtime is torch), records its peak RSS
before loading the model, then loads it and runs a few inferences. Internal usage:
``python -m dlcompress.benchmarks.memprobe RUNTIME PATH INPUTS_JSON THREADS [PRECISION [ARTIFACT_PRECISION]]``.
"""

from __future__ import annotations

import json
import os
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


def _probe(runtime: str, path: str, inputs: list[dict], threads: int, precision: str | None = None,
           artifact_precision: str = "fp32") -> dict[str, float]:
    from dlcompress.toolkit.artifact import Artifact
    from dlcompress.toolkit.runtimes import RuntimeOptions, get_runtime
    from dlcompress.toolkit.spec import ModelCard, ModelSpec, TensorSpec

    cls = get_runtime(runtime)
    feeds = {i["name"]: np.zeros(i["shape"], dtype=i["dtype"]) for i in inputs}
    spec = ModelSpec(
        name=Path(path).stem, task="custom", builder=lambda: None,
        inputs=tuple(TensorSpec(i["name"], tuple(i["shape"]), i["dtype"]) for i in inputs), outputs=(),
        card=ModelCard(family="file"),
    )
    artifact = Artifact(next(iter(cls.formats)), spec, path=Path(path), precision=artifact_precision)
    baseline = _rss_mb()
    rt = cls(artifact, RuntimeOptions(threads, inference_precision=precision))
    for _ in range(3):
        rt.run(feeds)
    peak = _rss_mb()
    return {"baseline_rss_mb": round(baseline, 1), "peak_rss_mb": round(peak, 1), "model_mb": round(peak - baseline, 1)}


def peak_memory(runtime: str, path: Path, inputs: list[dict], threads: int, timeout: float = 300,
                precision: str | None = None, artifact_precision: str = "fp32") -> dict[str, float] | None:
    """Run the probe in a child process; None if it could not run (the report then says n/a).
    ``precision``: the runtime's inference precision (OpenVINO), as in the timed run; ``artifact_precision``:
    the artifact's own (an fp16 ONNX file gets the session options it is timed with)."""
    cmd = [sys.executable, "-m", "dlcompress.benchmarks.memprobe", runtime, str(path), json.dumps(inputs), str(threads),
           precision or "", artifact_precision]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError):
        return None


def peak_memories(probes: list[tuple[str, Path, list[dict], int, str | None, str]],
                  timeout: float = 300) -> list[dict[str, float] | None]:
    """:func:`peak_memory` of several ``(runtime, path, inputs, threads, precision, artifact_precision)`` at once, one child process
    each, run side by side: each child measures only its own resident size, and most of a probe is the child's
    start-up (Python, numpy, the runtime's import), which the cores can overlap."""
    from concurrent.futures import ThreadPoolExecutor

    if len(probes) <= 1:
        return [peak_memory(r, p, i, t, timeout, precision=x, artifact_precision=a) for r, p, i, t, x, a in probes]
    with ThreadPoolExecutor(max_workers=min(len(probes), max(1, os.cpu_count() or 1))) as pool:
        return list(pool.map(lambda probe: peak_memory(*probe[:4], timeout, precision=probe[4],
                                                       artifact_precision=probe[5]), probes))


if __name__ == "__main__":
    runtime_, path_, inputs_, threads_ = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
    precision_ = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] else None
    print(json.dumps(_probe(runtime_, path_, inputs_, threads_, precision_, sys.argv[6] if len(sys.argv) > 6 else "fp32")))
