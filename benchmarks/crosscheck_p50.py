"""Cross-check the harness: does ``dlcompress bench`` report the p50 an independent timing finds?

Runs the harness (interleaved variants, dlcompress runtimes), then times every artifact file it wrote again
with the runtimes' own Python APIs directly (onnxruntime.InferenceSession, openvino.Core, ai_edge_litert
Interpreter) in a plain loop, in the same session, and prints the ratio of the two p50s. Exits 1 when any
ratio is outside 1 +- TOLERANCE.

    python benchmarks/crosscheck_p50.py --model resnet50 --backends onnxruntime,openvino,litert

Torch rows have no file (an in-memory module) and are not re-timed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TOLERANCE = 0.25


def native_runner(path: Path, runtime: str, threads: int, shape: tuple[int, ...]):  # noqa: ANN201
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    if runtime == "onnxruntime":
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return lambda: sess.run(None, {name: x})
    if runtime == "openvino":
        import openvino as ov

        compiled = ov.Core().compile_model(str(path), "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads,
                                                               "INFERENCE_PRECISION_HINT": "f32"})
        req = compiled.create_infer_request()
        return lambda: req.infer({0: x})
    if runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter

        it = Interpreter(model_path=str(path), num_threads=threads)
        it.allocate_tensors()
        det = it.get_input_details()[0]
        xi = x if det["dtype"] == np.float32 else np.zeros(det["shape"], det["dtype"])
        if tuple(det["shape"]) != xi.shape:
            xi = xi.reshape(det["shape"]) if xi.size == np.prod(det["shape"]) else np.zeros(det["shape"], det["dtype"])

        def run() -> None:
            it.set_tensor(det["index"], xi)
            it.invoke()

        return run
    raise SystemExit(f"no native runner for {runtime}")


def p50(fn, warmup: int = 5, runs: int = 40) -> float:  # noqa: ANN001
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--backends", default="onnxruntime,openvino,litert")
    ap.add_argument("--precisions", default="fp32,int8")
    ap.add_argument("--bench-seconds", type=float, default=40.0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    os.environ.setdefault("DLCOMPRESS_QUIET", "1")

    from dlcompress.api.bench_models import BenchRequest, bench_models
    from dlcompress.benchmarks.harness import BenchOptions
    from dlcompress.benchmarks.runtimes.base import default_threads
    from dlcompress.toolkit.backends import BACKENDS

    backends = tuple(b for b in args.backends.split(",") if b in BACKENDS and BACKENDS.get(b).available())
    out = args.out or Path(tempfile.mkdtemp(prefix="dlc-xcheck-")) / "run"
    report, folder = bench_models(BenchRequest(models=(args.model,), backends=backends,
                                               precisions=tuple(args.precisions.split(",")),
                                               bench=BenchOptions(max_seconds=args.bench_seconds), out=out, overwrite=True))
    threads = default_threads()
    print(f"{'variant':32} {'harness p50 ms':>15} {'independent p50 ms':>19} {'ratio':>7}")
    bad = 0
    for row in report.rows:
        if not row.latency or not row.path or row.device != "cpu":
            continue
        shape = (row.batch or 1, *_input_shape(report))
        fn = native_runner(folder / row.path, row.runtime, threads, shape)
        independent = p50(fn)
        ratio = row.latency["p50_ms"] / independent
        ok = abs(ratio - 1) <= TOLERANCE
        bad += not ok
        print(f"{row.variant:32} {row.latency['p50_ms']:15.2f} {independent:19.2f} {ratio:7.2f} {'ok' if ok else 'OUTSIDE'}")
    print(f"{'all within' if not bad else f'{bad} outside'} ±{TOLERANCE:.0%}; report in {folder}")
    return 1 if bad else 0


def _input_shape(report) -> tuple[int, ...]:  # noqa: ANN001
    """(C, H, W) of the model's input, parsed from the report's model signature."""
    import re

    sig = report.model["models"][0]["signature"]
    m = re.search(r"\[batch,([0-9,]+)\]", sig)
    if not m:
        raise SystemExit(f"cannot read the input shape from {sig!r}")
    return tuple(int(v) for v in m.group(1).split(","))


if __name__ == "__main__":
    sys.exit(main())
