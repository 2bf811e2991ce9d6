"""``memory=False`` (BenchOptions.memory) leaves out the peak-memory probe: no child process per variant, the report
says n/a; the default measures it."""

from __future__ import annotations

import dlcompress


def test_memory_probe_can_be_left_out(tmp_path):
    quick = dict(data="digits", calib_samples=8, eval_samples=16, max_seconds=0.2, min_samples=3)
    without = dlcompress.quantize("small_cnn", memory=False, out=tmp_path / "a", **quick).report
    assert [r.peak_memory for r in without.rows] == [None, None] and without.benchmark["memory"] is False
    with_probe = dlcompress.quantize("small_cnn", out=tmp_path / "b", **quick).report
    assert all(r.peak_memory and r.peak_memory["peak_rss_mb"] > 0 for r in with_probe.rows)
