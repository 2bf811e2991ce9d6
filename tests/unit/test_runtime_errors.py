"""A runtime that loads a model but cannot run it on the given feeds raises one clear InferenceError (which the
CLI prints as one line, exit 2), with the runtime's own reason and what it was given."""

from __future__ import annotations

import numpy as np
import pytest

from dlcompress.exporters import EXPORTERS, ExportOptions
from dlcompress.recipes.loading import load_model
from dlcompress.toolkit.errors import InferenceError, first_line
from dlcompress.toolkit.runtimes import RuntimeOptions, open_runtime


@pytest.mark.parametrize(("fmt", "file", "reason"), [
    ("onnx", "m.onnx", "Got: 3 Expected: 1"),
    pytest.param("openvino", "m.xml", "expects input of shape [?,1,28,28]", marks=pytest.mark.openvino),
])
def test_wrong_feed_shape_is_one_clear_error(tmp_path, fmt, file, reason):
    art = EXPORTERS.get(fmt).export(load_model("small_cnn"), tmp_path / file, ExportOptions())
    runtime = open_runtime(art, RuntimeOptions(threads=1))
    with pytest.raises(InferenceError) as info:
        runtime.run({"input": np.zeros((1, 3, 5, 5), np.float32)})
    message = str(info.value)
    assert reason in message and "input float32[1,3,5,5]" in message and "\n" not in message
    assert "Exception from src" not in message


def test_first_line_skips_noise_and_joins():
    e = RuntimeError("Exception from src/x.cpp:1:\nCheck 'a' failed at y.h:2:\nThe cause.\nMore detail.\n")
    assert first_line(e) == "The cause."
    assert first_line(e, lines=2) == "The cause.; More detail."
    assert first_line(RuntimeError("\x1b[31mred\x1b[0m")) == "red"
