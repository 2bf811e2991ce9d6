"""Cross-check the harness: does ``dlcompress bench`` report the p50 an independent timing finds?

1. ``dlcompress bench`` builds and times the variants (the report's p50, printed for reference).
2. Every artifact file it wrote is then timed two ways in the same session, in alternating epochs so that
   the machine's slow and fast phases hit both alike (seen here: whole rounds where every runtime ran 20-90%
   slower for a few seconds): the harness (:func:`dlcompress.benchmarks.harness.measure` over the dlcompress
   runtimes opened on the file, as ``bench`` does), and an independent plain loop over the runtimes' own Python
   APIs (onnxruntime.InferenceSession, openvino.Core, ai_edge_litert Interpreter) with the same thread count.

Prints both p50s and their ratio per variant; exits 1 when any ratio is outside 1 +- TOLERANCE.

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
ROUNDS_PER_EPOCH = 4
RUNS_PER_ROUND = 5


def native_runner(path: Path, runtime: str, threads: int, shape: tuple[int, ...]):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    if runtime == "onnxruntime":
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # else it steals the next runner's core
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


def p50(fn, warmup: int = 5, runs: int = 40) -> float:
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
    ap.add_argument("--epochs", type=int, default=5, help="alternating harness / independent epochs")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    os.environ.setdefault("DLCOMPRESS_QUIET", "1")

    from dlcompress.benchmarks.harness import BenchOptions, measure
    from dlcompress.recipes.bench_models import BenchRequest, bench_models
    from dlcompress.toolkit.artifact import Artifact, Format
    from dlcompress.toolkit.backends import BACKENDS
    from dlcompress.toolkit.runtimes import RuntimeOptions, open_runtime
    from dlcompress.toolkit.runtimes.base import default_threads
    from dlcompress.zoo import MODELS

    backends = tuple(b for b in args.backends.split(",") if b in BACKENDS and BACKENDS.get(b).available())
    out = args.out or Path(tempfile.mkdtemp(prefix="dlc-xcheck-")) / "run"
    report, folder = bench_models(BenchRequest(models=(args.model,), backends=backends,
                                               precisions=tuple(args.precisions.split(",")),
                                               bench=BenchOptions(max_seconds=args.bench_seconds), out=out, overwrite=True))
    threads = default_threads()
    spec = MODELS.get(args.model)
    rows = [r for r in report.rows if r.latency and r.path and r.device == "cpu"]
    shape = (1, *_input_shape(report))
    x = {spec.inputs[0].name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    runtimes = {r.variant: open_runtime(Artifact(Format(r.format), spec, path=folder / r.path),
                                        RuntimeOptions(threads=threads), r.runtime) for r in rows}
    native = {r.variant: native_runner(folder / r.path, r.runtime, threads, shape) for r in rows}
    harness_ms: dict[str, list[float]] = {v: [] for v in runtimes}
    native_ms: dict[str, list[float]] = {v: [] for v in runtimes}
    for epoch in range(args.epochs):
        timed = measure(runtimes, {v: x for v in runtimes}, BenchOptions(rounds=ROUNDS_PER_EPOCH, max_seconds=0))
        for v, m in timed.items():
            harness_ms[v] += m.samples_ms
        for v, ms in plain_loop(native, epoch).items():
            native_ms[v] += ms
    print(f"{'variant':28} {'report p50':>10} {'harness p50':>11} {'independent p50':>15} {'ratio':>6}  (ms)")
    bad = 0
    for r in rows:
        h, n = statistics.median(harness_ms[r.variant]), statistics.median(native_ms[r.variant])
        ratio = h / n
        ok = abs(ratio - 1) <= TOLERANCE
        bad += not ok
        print(f"{r.variant:28} {r.latency['p50_ms']:10.2f} {h:11.2f} {n:15.2f} {ratio:6.2f}  {'ok' if ok else 'OUTSIDE'}")
    print(f"{'all within' if not bad else f'{bad} outside'} ±{TOLERANCE:.0%} ({args.epochs} alternating epochs, "
          f"{sum(map(len, harness_ms.values()))} + {sum(map(len, native_ms.values()))} timed calls); report in {folder}")
    return 1 if bad else 0


def plain_loop(runners: dict, epoch: int) -> dict[str, list[float]]:
    """The independent timing: per round, each runner once untimed then RUNS_PER_ROUND timed calls, the runner
    order rotated each round (the same fairness rules as the harness, written separately)."""
    names = list(runners)
    out: dict[str, list[float]] = {v: [] for v in names}
    for r in range(ROUNDS_PER_EPOCH):
        k = (r + epoch) % len(names)
        for v in names[k:] + names[:k]:
            fn = runners[v]
            fn()
            for _ in range(RUNS_PER_ROUND):
                t = time.perf_counter()
                fn()
                out[v].append((time.perf_counter() - t) * 1000)
    return out


def _input_shape(report) -> tuple[int, ...]:
    """(C, H, W) of the model's input, parsed from the report's model signature."""
    import re

    sig = report.model["models"][0]["signature"]
    m = re.search(r"\[batch,([0-9,]+)\]", sig)
    if not m:
        raise SystemExit(f"cannot read the input shape from {sig!r}")
    return tuple(int(v) for v in m.group(1).split(","))


if __name__ == "__main__":
    sys.exit(main())
