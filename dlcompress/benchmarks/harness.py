"""Latency measurement: variants interleaved (A B C, B C A, ...) so machine noise hits all alike.

Each round gives every variant one untimed "switch" call (re-warms caches and thread pools after another
runtime ran) and then ``runs_per_round`` timed calls of one inference on ready-made inputs.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import numpy as np

from dlcompress.toolkit.errors import DLCompressError
from dlcompress.toolkit.progress import progress_bar
from dlcompress.toolkit.runtimes.base import Runtime


@dataclass(frozen=True)
class BenchOptions:
    """``batch`` items per call; warm-up calls are excluded; the run stops early once ``max_seconds`` is spent
    (after at least ``min_samples`` timed calls per variant). ``memory``: measure each variant's peak memory in a
    fresh child process (off for a quick look: the report then says n/a)."""

    batch: int = 1
    warmup: int = 5
    rounds: int = 20
    runs_per_round: int = 5
    max_seconds: float = 60.0
    min_samples: int = 20
    memory: bool = True

    def __post_init__(self) -> None:
        counts = {"batch": self.batch, "rounds": self.rounds, "runs_per_round": self.runs_per_round,
                  "min_samples": self.min_samples}
        for name, value in counts.items():
            if value < 1:
                raise DLCompressError(f"{name} must be at least 1, got {value}")
        if self.warmup < 0 or self.max_seconds < 0:
            raise DLCompressError(f"warmup and max_seconds must not be negative, got {self.warmup}, {self.max_seconds}")


@dataclass(frozen=True)
class Measurement:
    """Latency statistics of one variant, in milliseconds per call of ``batch`` items."""

    samples_ms: tuple[float, ...] = field(repr=False)
    batch: int = 1
    threads: int = 1

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.samples_ms, q))

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p90(self) -> float:
        return self.percentile(90)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    @property
    def throughput(self) -> float:
        """Items per second at the median latency."""
        return self.batch * 1000.0 / self.p50

    def to_json(self) -> dict[str, object]:
        return {
            "p50_ms": round(self.p50, 4), "p90_ms": round(self.p90, 4), "p99_ms": round(self.p99, 4),
            "mean_ms": round(float(np.mean(self.samples_ms)), 4), "min_ms": round(min(self.samples_ms), 4),
            "samples": len(self.samples_ms), "batch": self.batch, "threads": self.threads,
            "throughput_per_s": round(self.throughput, 2),
            "samples_ms": [round(v, 4) for v in self.samples_ms],
        }


def measure(
    runtimes: dict[str, Runtime], feeds: dict[str, dict[str, np.ndarray]], options: BenchOptions
) -> dict[str, Measurement]:
    """Interleaved latency of every runtime on its feeds (keyed like ``runtimes``)."""
    names = list(runtimes)
    for name in names:
        with pinned(runtimes[name].options.affinity):
            for _ in range(options.warmup):
                runtimes[name].run(feeds[name])
    samples: dict[str, list[float]] = {n: [] for n in names}
    start = time.perf_counter()
    total = options.rounds * len(names) * options.runs_per_round
    with progress_bar("benchmarking", total=total) as bar:
        for r in range(options.rounds):
            order = names[r % len(names):] + names[: r % len(names)]
            for name in order:
                rt, feed = runtimes[name], feeds[name]
                with pinned(rt.options.affinity):
                    rt.run(feed)  # switch call, untimed
                    for _ in range(options.runs_per_round):
                        t0 = time.perf_counter()
                        rt.run(feed)
                        samples[name].append((time.perf_counter() - t0) * 1000.0)
                        bar.advance()
            enough = min(len(s) for s in samples.values()) >= options.min_samples
            if enough and time.perf_counter() - start > options.max_seconds:
                break
    return {n: Measurement(tuple(samples[n]), options.batch, runtimes[n].options.num_threads) for n in names}


@contextlib.contextmanager
def pinned(cores: tuple[int, ...] | None) -> Iterator[None]:
    """Pin the calling thread to ``cores`` for the duration (no-op when None or unsupported)."""
    if not cores or not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(cores))
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def bench_options_dict(options: BenchOptions) -> dict[str, object]:
    return asdict(options)
