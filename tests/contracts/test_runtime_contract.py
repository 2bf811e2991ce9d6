"""RuntimeContract: every registered runtime (RUNTIMES) on the artifact of its format (the trained small_cnn,
exported by the registered exporter of that format; torch runs the module itself).

A runtime loads the artifact, runs the spec's example inputs at batch 1 and 2, and returns float outputs with
the spec's names and shapes; it reports the spec's input/output names and describes itself. A bad feed (wrong
shape, missing input) raises the project's InferenceError (a DLCompressError, one line), never the backend's
own exception.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.contracts.conftest import (
    open_plugin_runtime,
    skip_unless_installed,
    variants,
)
from tests.contracts.registries import guard_problems

EXCLUDED: dict[str, str] = {}
KNOWN_BUGS: dict[tuple[str, ...], str] = {}
KNOWN_UNREACHABLE: dict[str, str] = {}


def bad_feed(spec, kind: str) -> dict[str, np.ndarray]:
    good = spec.example_inputs(1)
    if kind == "missing_input":
        return {f"not_{k}": v for k, v in good.items()}
    # every fixed dim after the batch grows by 2: (1, 1, 28, 28) -> (1, 3, 30, 30)
    return {k: np.zeros((v.shape[0], *(d + 2 for d in v.shape[1:])), v.dtype) for k, v in good.items()}


class RuntimeContract:
    kind = "runtime"

    def artifact(self, plugin, exports):
        from dlcompress.toolkit.runtimes import get_runtime

        skip_unless_installed("runtime", plugin)
        formats = sorted(get_runtime(plugin).formats)
        assert formats, f"runtime {plugin!r} declares no formats"
        return exports.of_format(formats[0])

    def test_declares_itself(self, plugin):
        from dlcompress.toolkit.artifact import Format
        from dlcompress.toolkit.runtimes import get_runtime

        cls = get_runtime(plugin)
        assert cls.name == plugin
        assert cls.formats and all(isinstance(f, Format) for f in cls.formats)

    def test_runs_the_spec_example_inputs(self, plugin, exports):
        art = self.artifact(plugin, exports)
        spec = art.spec
        runtime = open_plugin_runtime(plugin, art)
        try:
            assert list(runtime.input_names) == [t.name for t in spec.inputs]
            assert list(runtime.output_names) == [t.name for t in spec.outputs]
            for batch in (1, 2):
                out = runtime.run(spec.example_inputs(batch, seed=batch))
                assert list(out) == [t.name for t in spec.outputs]
                for t in spec.outputs:
                    y = np.asarray(out[t.name])
                    assert y.shape == t.concrete_shape(batch, **spec.dims), (t.name, batch)
                    assert y.dtype == np.float32 and np.isfinite(y).all()
            described = runtime.describe()
            assert described["runtime"] == plugin and described["threads"] >= 1
        finally:
            runtime.close()

    @variants("feed", ["wrong_shape", "missing_input"])
    def test_bad_feed_raises_inference_error(self, plugin, feed, exports):
        from dlcompress.toolkit.errors import DLCompressError, InferenceError

        art = self.artifact(plugin, exports)
        runtime = open_plugin_runtime(plugin, art)
        try:
            runtime.run(bad_feed(art.spec, feed))
        except InferenceError as e:
            assert isinstance(e, DLCompressError) and "\n" not in str(e) and str(e)
        except Exception as e:  # noqa: BLE001 - the contract is about which type comes out
            pytest.fail(f"{plugin} raised {type(e).__module__}.{type(e).__name__} instead of InferenceError: {e}")
        else:
            pytest.fail(f"{plugin} ran a {feed} feed without an error")
        finally:
            runtime.close()


class TestRuntimes(RuntimeContract):
    """RuntimeContract over every name in RUNTIMES (and every runtime a backend declares)."""


def test_runtime_guard(discovery):
    """Every runtime a fresh process can register is what RuntimeContract runs over."""
    problems, known = guard_problems("runtime", discovery, EXCLUDED, KNOWN_UNREACHABLE)
    assert not problems, "\n".join(problems)
    if known:
        pytest.xfail("BUG: " + "; ".join(known))
