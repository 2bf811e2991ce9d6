"""An fp16 ONNX file (made by dlcompress or brought by the user) opens at ONNX Runtime's extended optimization
level: ORT 1.32's layout optimizations (ORT_ENABLE_ALL) segfault creating a session for EasyOCR's fp16 CRNN
(tests/real/test_easyocr_crnn.py), and they are float32 kernels anyway."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from dlcompress.toolkit.loaders.onnx_file import load_onnx_file
from dlcompress.toolkit.model_options import ModelOptions
from dlcompress.toolkit.runtimes import RuntimeOptions, open_runtime


def _matmul(path, dtype):
    w = numpy_helper.from_array(np.eye(8, dtype=dtype), "w")
    elem = TensorProto.FLOAT16 if dtype == np.float16 else TensorProto.FLOAT
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", elem, [1, 8])],
                              [helper.make_tensor_value_info("y", elem, [1, 8])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@pytest.mark.parametrize("dtype, precision, level", [(np.float16, "fp16", "ORT_ENABLE_EXTENDED"),
                                                     (np.float32, "fp32", "ORT_ENABLE_ALL")])
def test_float16_files_open_at_the_extended_level(tmp_path, dtype, precision, level):
    import onnxruntime as ort

    artifact = load_onnx_file(_matmul(tmp_path / "m.onnx", dtype), ModelOptions())
    assert artifact.precision == precision
    runtime = open_runtime(artifact, RuntimeOptions(1))
    try:
        assert runtime.session.get_session_options().graph_optimization_level == getattr(ort.GraphOptimizationLevel, level)
        x = np.arange(8, dtype=dtype).reshape(1, 8)
        np.testing.assert_array_equal(runtime.run({"x": x})["y"], x)
    finally:
        runtime.close()
