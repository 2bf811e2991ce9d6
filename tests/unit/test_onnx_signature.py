"""An ONNX file of any signature: its inputs are read from the graph, symbolic dims are sized by
``--input-shape NAME=DIMS``, and what cannot be inferred is asked for in one line."""

from __future__ import annotations

import pytest
import torch

from dlcompress.toolkit.errors import InputShapeError
from dlcompress.toolkit.loaders.onnx_file import load_onnx_file
from dlcompress.toolkit.model_options import ModelOptions, parse_named_shapes


class Frames(torch.nn.Module):
    def forward(self, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return (x * scale).mean(1)


@pytest.fixture(scope="module")
def frames_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("sig") / "frames.onnx"
    torch.onnx.export(Frames(), (torch.ones(1, 5, 8), torch.ones(1, 1, 8)), str(path), dynamo=False,
                      input_names=["x", "scale"], output_names=["y"],
                      dynamic_axes={"x": {0: "n", 1: "frames"}, "scale": {0: "n"}, "y": {0: "n"}})
    return path


def test_an_unsized_symbolic_dim_is_asked_for_by_name(frames_onnx):
    with pytest.raises(InputShapeError) as info:
        load_onnx_file(frames_onnx, ModelOptions())
    message = str(info.value)
    assert "symbolic dim 'frames'" in message and "--input-shape x=1,N,8" in message and "\n" not in message


def test_named_shapes_size_it_and_generated_inputs_follow(frames_onnx):
    art = load_onnx_file(frames_onnx, ModelOptions(input_shapes=parse_named_shapes("x=1,12,8;scale=1,1,8")))
    assert art.spec.dims == {"frames": 12}
    feeds = art.spec.example_inputs(3)
    assert feeds["x"].shape == (3, 12, 8) and feeds["scale"].shape == (3, 1, 8)


def test_bad_named_shapes_are_one_line(frames_onnx):
    with pytest.raises(InputShapeError, match="give NAME=DIMS"):
        parse_named_shapes("x=1,12,8 =1,2")
    with pytest.raises(InputShapeError, match="has 2 dims"):
        load_onnx_file(frames_onnx, ModelOptions(input_shapes={"x": (1, 12)}))
    with pytest.raises(InputShapeError, match="does not match"):
        load_onnx_file(frames_onnx, ModelOptions(input_shapes={"x": (1, 12, 9)}))
    with pytest.raises(InputShapeError, match="--tokenizer feeds token inputs"):
        load_onnx_file(frames_onnx, ModelOptions(tokenizer="/nonexistent", input_shapes={"x": (1, 12, 8)}))


def test_named_shape_sizes_symbolic_image_dims(cli, tmp_path):
    """``--input-shape x=1,3,16,16`` on an ONNX image model with symbolic H, W (PP-OCR's det/rec files): it runs
    (was an internal error, "image dims must be concrete"), and the Python API takes the same string."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4, "h", "w"])], [w])
    path = tmp_path / "sym.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    r = cli("quantize", "--model", path, "--input-shape", "x=1,3,16,16", "--eval-samples", "4", "--calib-samples", "4",
            "--bench-seconds", "1", "--out", tmp_path / "q")
    assert r.code == 0, r.err
    import dlcompress

    result = dlcompress.quantize(str(path), input_shape="x=1,3,16,16", eval_samples=4, calib_samples=4,
                                 max_seconds=1.0, out=str(tmp_path / "api"))
    assert [row.precision for row in result.report.rows] == ["fp32", "int8"]
