"""The benchmark harness's pure logic on a fake clock: warm-up and switch calls are never timed, variants are
interleaved in rotating order, and the stop rule (rounds, time budget after warm-up, minimum samples) holds.

The fake runtimes advance the fake clock by set amounts per call; durations are dyadic fractions of a second
(exact in binary floating point), so timed samples compare exactly.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from dlcompress.benchmarks import harness
from dlcompress.benchmarks.harness import BenchOptions, Measurement, measure, pinned
from dlcompress.toolkit.runtimes.base import RuntimeOptions

WARMUP_S = 1.0  # every warm-up call
SWITCH_S = 0.5  # the untimed call a variant gets at the start of each round
TIMED_S = (0.0625, 0.125, 0.25)  # timed calls cycle through these, so each sample names the call it timed


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


class FakeRuntime:
    """Duck-typed runtime: each call is logged and advances the clock by the duration its position implies."""

    def __init__(self, name: str, clock: FakeClock, log: list[str], warmup: int, runs_per_round: int,
                 threads: int = 3) -> None:
        self.name, self.clock, self.log = name, clock, log
        self.warmup, self.runs_per_round = warmup, runs_per_round
        self.options = RuntimeOptions(threads=threads)
        self.calls = 0
        self.feeds_seen: list[object] = []

    def kind(self, k: int) -> tuple[str, float]:
        """What call number ``k`` of this runtime is under the harness's protocol, and what it costs."""
        if k < self.warmup:
            return "warmup", WARMUP_S
        j = k - self.warmup
        block, pos = divmod(j, 1 + self.runs_per_round)
        if pos == 0:
            return "switch", SWITCH_S
        timed_index = block * self.runs_per_round + pos - 1
        return "timed", TIMED_S[timed_index % len(TIMED_S)]

    def expected_sample_ms(self, i: int) -> float:
        return TIMED_S[i % len(TIMED_S)] * 1000.0

    def run(self, feeds):
        kind, seconds = self.kind(self.calls)
        self.log.append(f"{self.name}:{kind}")
        self.feeds_seen.append(feeds)
        self.calls += 1
        self.clock.now += seconds
        return {}


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    c = FakeClock()
    monkeypatch.setattr(harness.time, "perf_counter", c)
    return c


def make(clock: FakeClock, names: str, options: BenchOptions, threads: int = 3):
    log: list[str] = []
    rts = {n: FakeRuntime(n, clock, log, options.warmup, options.runs_per_round, threads) for n in names}
    feeds = {n: {"input": np.full((1,), ord(n), dtype=np.float32)} for n in names}
    return rts, feeds, log


NO_STOP = {"max_seconds": 1e9, "min_samples": 1}


def test_warmup_and_switch_calls_are_not_timed(clock):
    opts = BenchOptions(batch=4, warmup=5, rounds=3, runs_per_round=4, **NO_STOP)
    rts, feeds, log = make(clock, "AB", opts)
    result = measure(rts, feeds, opts)
    for name, rt in rts.items():
        m = result[name]
        assert len(m.samples_ms) == opts.rounds * opts.runs_per_round  # warm-up and switch calls excluded
        assert rt.calls == opts.warmup + opts.rounds * (1 + opts.runs_per_round)
        # each sample is exactly the duration of one timed call, in order: no warm-up (1000 ms) or switch (500 ms)
        assert list(m.samples_ms) == [rt.expected_sample_ms(i) for i in range(len(m.samples_ms))]
        assert max(m.samples_ms) < SWITCH_S * 1000.0
        assert m.batch == 4 and m.threads == 3
        assert all(f is feeds[name] for f in rt.feeds_seen)  # each runtime only ever sees its own feeds
    assert log.count("A:warmup") == log.count("B:warmup") == opts.warmup


def test_no_warmup_still_switches_before_each_round(clock):
    opts = BenchOptions(warmup=0, rounds=2, runs_per_round=1, **NO_STOP)
    rts, feeds, log = make(clock, "AB", opts)
    measure(rts, feeds, opts)
    assert log == ["A:switch", "A:timed", "B:switch", "B:timed", "B:switch", "B:timed", "A:switch", "A:timed"]


def test_warmup_first_then_rounds_interleaved_in_rotating_order(clock):
    opts = BenchOptions(warmup=2, rounds=4, runs_per_round=2, **NO_STOP)
    rts, feeds, log = make(clock, "ABC", opts)
    measure(rts, feeds, opts)
    n_warm = 3 * opts.warmup
    assert log[:n_warm] == ["A:warmup"] * 2 + ["B:warmup"] * 2 + ["C:warmup"] * 2  # all warm-up before any timing
    rest = log[n_warm:]
    block = 1 + opts.runs_per_round
    blocks = [rest[i:i + block] for i in range(0, len(rest), block)]
    for b in blocks:  # one switch call, then this variant's timed calls, uninterrupted
        name = b[0].split(":")[0]
        assert b == [f"{name}:switch"] + [f"{name}:timed"] * opts.runs_per_round
    order = [b[0].split(":")[0] for b in blocks]
    assert order == list("ABC" "BCA" "CAB" "ABC")  # round r starts at variant r mod n


def test_stops_after_the_round_in_which_the_budget_is_spent(clock):
    # a round: 2 variants x (switch 0.5 s + 2 timed calls); each variant's timed calls cost 0.0625, 0.125, 0.25, ...
    # elapsed after round 0: 1.0 + 2 x 0.1875 = 1.375 s; after round 1: + 1.0 + 2 x 0.3125 = 3.0 s > 2.5 s: stop.
    # The warm-up (2 x 10 x 1 s = 20 s) is far over the budget: it must not count, or only one round would run.
    opts = BenchOptions(warmup=10, rounds=50, runs_per_round=2, max_seconds=2.5, min_samples=1)
    rts, feeds, _ = make(clock, "AB", opts)
    result = measure(rts, feeds, opts)
    assert all(len(m.samples_ms) == 2 * opts.runs_per_round for m in result.values())
    assert rts["A"].calls == rts["B"].calls == opts.warmup + 2 * (1 + opts.runs_per_round)


@pytest.mark.parametrize("budget,rounds", [(1.0, 1), (1.374, 1), (1.376, 2), (2.999, 2), (3.001, 3)])
def test_budget_boundaries(clock, budget, rounds):
    """The budget is checked after each whole round (never mid-round), on time measured after warm-up."""
    opts = BenchOptions(warmup=3, rounds=50, runs_per_round=2, max_seconds=budget, min_samples=1)
    rts, feeds, _ = make(clock, "AB", opts)
    result = measure(rts, feeds, opts)
    assert {len(m.samples_ms) for m in result.values()} == {rounds * opts.runs_per_round}


@pytest.mark.parametrize("min_samples,expected_rounds", [(1, 1), (2, 1), (3, 2), (5, 3), (6, 3), (7, 4)])
def test_min_samples_keep_it_running_past_the_budget(clock, min_samples, expected_rounds):
    opts = BenchOptions(warmup=1, rounds=10, runs_per_round=2, max_seconds=0.01, min_samples=min_samples)
    rts, feeds, _ = make(clock, "AB", opts)
    result = measure(rts, feeds, opts)
    assert {len(m.samples_ms) for m in result.values()} == {expected_rounds * opts.runs_per_round}


def test_rounds_cap_the_run_when_budget_and_min_samples_allow_more(clock):
    opts = BenchOptions(warmup=1, rounds=3, runs_per_round=5, max_seconds=1e9, min_samples=1000)
    rts, feeds, _ = make(clock, "ABC", opts)
    result = measure(rts, feeds, opts)
    assert {len(m.samples_ms) for m in result.values()} == {15}


def test_budget_not_reached_runs_every_round(clock):
    opts = BenchOptions(warmup=0, rounds=4, runs_per_round=1, max_seconds=100.0, min_samples=1)
    rts, feeds, _ = make(clock, "A", opts)
    assert len(measure(rts, feeds, opts)["A"].samples_ms) == 4


def test_threads_come_from_each_runtime(clock):
    opts = BenchOptions(warmup=0, rounds=1, runs_per_round=1, **NO_STOP)
    rts, feeds, _ = make(clock, "AB", opts)
    rts["B"].options = RuntimeOptions(threads=1)
    result = measure(rts, feeds, opts)
    assert result["A"].threads == 3 and result["B"].threads == 1


def test_measurement_statistics():
    m = Measurement(tuple(float(v) for v in range(1, 101)), batch=8, threads=2)
    assert m.p50 == pytest.approx(50.5) and m.p90 == pytest.approx(90.1) and m.p99 == pytest.approx(99.01)
    assert m.throughput == pytest.approx(8 * 1000.0 / 50.5)
    j = m.to_json()
    assert j["samples"] == 100 and j["batch"] == 8 and j["threads"] == 2
    assert j["min_ms"] == 1.0 and j["mean_ms"] == 50.5 and j["p50_ms"] == 50.5
    assert j["samples_ms"] == [float(v) for v in range(1, 101)]
    assert j["throughput_per_s"] == round(8000 / 50.5, 2)


def test_bench_options_dict_round_trips():
    opts = BenchOptions(batch=2, warmup=3, rounds=4, runs_per_round=5, max_seconds=6.0, min_samples=7)
    assert BenchOptions(**harness.bench_options_dict(opts)) == opts


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs sched_setaffinity")
def test_pinned_sets_and_restores_affinity():
    before = os.sched_getaffinity(0)
    core = min(before)
    with pinned((core,)):
        assert os.sched_getaffinity(0) == {core}
    assert os.sched_getaffinity(0) == before
    with pinned(None):
        assert os.sched_getaffinity(0) == before
    with pytest.raises(RuntimeError), pinned((core,)):
        raise RuntimeError("restored even on error")
    assert os.sched_getaffinity(0) == before


def test_pinned_runtime_is_timed_pinned(clock):
    """A runtime with affinity is run (warm-up, switch and timed calls) while pinned to its cores."""
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("needs sched_setaffinity")
    before = os.sched_getaffinity(0)
    core = min(before)
    opts = BenchOptions(warmup=1, rounds=2, runs_per_round=1, **NO_STOP)
    rts, feeds, _ = make(clock, "AB", opts)
    rts["A"].options = RuntimeOptions(threads=1, affinity=(core,))
    seen: dict[str, set[frozenset[int]]] = {"A": set(), "B": set()}
    for name, rt in rts.items():
        original = rt.run

        def run(feeds, _name=name, _original=original):
            seen[_name].add(frozenset(os.sched_getaffinity(0)))
            return _original(feeds)

        rt.run = run  # type: ignore[method-assign]
    measure(rts, feeds, opts)
    assert seen["A"] == {frozenset({core})}
    assert seen["B"] == {frozenset(before)}
    assert os.sched_getaffinity(0) == before
