"""Checks shared by several test modules."""

from __future__ import annotations

import numpy as np
import pytest


def check_latency_summary(latency: dict) -> None:
    """The summary of a measured row is the summary of its own samples (no time bound: timings vary)."""
    samples = latency["samples_ms"]
    assert len(samples) == latency["samples"] >= 20
    assert latency["p50_ms"] == pytest.approx(float(np.median(samples)), abs=1e-3)
    assert latency["min_ms"] == pytest.approx(min(samples), abs=1e-3)
    assert latency["min_ms"] <= latency["p50_ms"] <= latency["p90_ms"] <= latency["p99_ms"]
    # throughput is rounded to 2 decimals: 0.005 absolute
    assert latency["throughput_per_s"] == pytest.approx(latency["batch"] * 1000 / latency["p50_ms"], rel=1e-3, abs=0.01)
