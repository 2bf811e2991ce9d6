"""ExporterContract: every registered exporter (EXPORTERS), on small_cnn trained on real Fashion-MNIST.

An exporter writes the file it was asked for, with its declared suffix and format; the new artifact has one
more lineage record (``export``); validation against torch passes (output names, shapes, values within the
spec's tolerance on real images); the torch artifact it was given is unchanged.
"""

from __future__ import annotations

import pytest

from tests.contracts.conftest import MODEL, default_runtime
from tests.contracts.registries import guard_problems

EXCLUDED: dict[str, str] = {}
KNOWN_BUGS: dict[tuple[str, ...], str] = {}
KNOWN_UNREACHABLE: dict[str, str] = {}


class ExporterContract:
    kind = "exporter"

    def test_writes_the_declared_file(self, plugin, exports):
        from dlcompress.exporters import EXPORTERS

        done = exports.get(plugin)  # first: skips a backend that is not installed
        exporter = EXPORTERS.get(plugin)
        art = done.artifact
        assert art.format is exporter.format and art.model is None
        assert art.path == done.out_path and art.path.is_file() and art.path.stat().st_size > 0
        assert art.path.suffix == exporter.suffix
        assert art.size_bytes and art.size_bytes >= art.path.stat().st_size
        assert art.spec.name == MODEL and art.precision in ("fp32", "fp16")
        for b in _backends_of(plugin):  # a backend that names this exporter agrees on format and suffix
            assert (b.format, b.suffix) == (exporter.format, exporter.suffix), b.name

    def test_lineage_gains_an_export_record(self, plugin, exports):
        done = exports.get(plugin)
        before, after = done.input.lineage, done.artifact.lineage
        assert after[: len(before)] == before and len(after) == len(before) + 1
        record = after[-1]
        assert record.stage == "export" and record.params.get("format") == str(done.artifact.format)
        assert record.effect.get("size_bytes", 0) > 0
        assert done.artifact.source is done.input

    def test_validates_against_torch(self, plugin, exports, reference, evaluation):
        from dlcompress.exporters.validate import validate_outputs

        art = exports.get(plugin).artifact
        spec = reference.spec
        feeds = [{k: v[:8] for k, v in evaluation.items()}, spec.example_inputs(1, seed=1)]
        result = validate_outputs(default_runtime(reference), default_runtime(art), feeds, spec.tolerance.atol, spec.tolerance.rtol)
        assert result.passed, result.problems
        assert [c.name for c in result.checks] == [t.name for t in spec.outputs]
        assert all(c.passed and c.shape is not None for c in result.checks)

    def test_does_not_mutate_its_input(self, plugin, exports):
        done = exports.get(plugin)
        assert done.after == done.before


def _backends_of(name: str) -> list:
    from tests.contracts.registries import backends_for

    return backends_for("exporter", name)


class TestExporters(ExporterContract):
    """ExporterContract over every name in EXPORTERS (and every exporter a backend declares)."""


def test_exporter_guard(discovery):
    """Every exporter a fresh process can register is what ExporterContract runs over."""
    problems, known = guard_problems("exporter", discovery, EXCLUDED, KNOWN_UNREACHABLE)
    assert not problems, "\n".join(problems)
    if known:
        pytest.xfail("BUG: " + "; ".join(known))
