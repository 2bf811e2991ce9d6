"""The calibration data pipeline on its own: raw items + transform + count, read lazily, re-iterable."""

from __future__ import annotations

import numpy as np
import pytest

from dlcompress.toolkit.calibration import Calibration


def _counting(count: int, batch: int):  # noqa: ANN202
    reads: list[tuple[int, int]] = []

    def items(a: int, b: int) -> np.ndarray:
        reads.append((a, b))
        return np.arange(a, b, dtype=np.float32)

    return Calibration(items, lambda raw: {"x": raw[:, None] * 2}, count, batch, "numbers"), reads


def test_batches_cover_every_item_once_in_order_and_are_transformed():
    calib, reads = _counting(10, 4)
    assert reads == []  # nothing is read before iteration
    batches = list(calib)
    assert reads == [(0, 4), (4, 8), (8, 10)]
    assert len(calib) == 3 and calib.count == 10
    np.testing.assert_array_equal(np.concatenate([b["x"][:, 0] for b in batches]), np.arange(10) * 2)


def test_it_is_lazy_and_iterates_again_with_the_same_batches():
    calib, reads = _counting(6, 2)
    first = next(iter(calib))
    assert reads == [(0, 2)]  # one batch read for one batch taken
    again = [b["x"] for b in calib]
    assert len(again) == 3
    np.testing.assert_array_equal(first["x"], again[0])


def test_ready_feeds_keep_their_batches():
    feeds = [{"x": np.full((3, 2), i, np.float32)} for i in range(3)]
    calib = Calibration.of_feeds(feeds)
    assert calib.count == 9 and len(calib) == 3
    for got, want in zip(calib, feeds):
        np.testing.assert_array_equal(got["x"], want["x"])


def test_uneven_ready_feeds_keep_every_item():
    feeds = [{"x": np.zeros((2, 1), np.float32)}, {"x": np.ones((1, 1), np.float32)}]
    calib = Calibration.of_feeds(feeds)
    assert calib.count == 3
    np.testing.assert_array_equal(np.concatenate([b["x"] for b in calib])[:, 0], [0, 0, 1])


def test_a_bad_batch_size_is_refused():
    with pytest.raises(ValueError, match="batch >= 1"):
        Calibration(lambda a, b: None, lambda r: {}, 4, 0)


def test_prepared_images_calibrate_on_real_training_images_with_the_models_transform():
    from dlcompress.recipes.common import DataOptions, prepare
    from dlcompress.toolkit.model_options import ModelOptions

    prepared = prepare("small_cnn", ModelOptions(), DataOptions("digits", 20, 16))
    calib = prepared.calibration(20, batch=8)
    batches = list(calib)
    assert calib.count == 20 and [len(b["input"]) for b in batches] == [8, 8, 4]
    assert calib.source == "digits/train"
    raw = prepared.data.train.head(20).batch(list(range(8)))
    np.testing.assert_allclose(batches[0]["input"], prepared.transform(raw))
    assert prepared.feeds("train", 20, 8)[0]["input"].shape == batches[0]["input"].shape


def _conv_onnx(path, batch: str | int) -> None:  # noqa: ANN001
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Relu", ["c"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4, 6, 6])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_onnx_calibration_one_item_at_a_time_gives_the_same_ranges(tmp_path):
    """ORT calibrates a symbolic-batch model item by item (its session then holds one item's activations):
    the quantized model is the same as from whole batches; a fixed-batch model keeps its batches."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    from dlcompress.toolkit.stages.quantize_onnx import (
        _reader,
        single_items,
        symbolic_batch,
    )

    model = tmp_path / "m.onnx"
    _conv_onnx(model, "batch")
    _conv_onnx(tmp_path / "fixed.onnx", 8)
    assert symbolic_batch(model) and not symbolic_batch(tmp_path / "fixed.onnx")
    rng = np.random.default_rng(1)
    feeds = [{"x": rng.standard_normal((8, 3, 8, 8)).astype(np.float32) * (i + 1)} for i in range(3)]
    items = list(single_items(feeds))
    assert len(items) == 24 and all(f["x"].shape == (1, 3, 8, 8) for f in items)
    np.testing.assert_array_equal(np.concatenate([f["x"] for f in items]), np.concatenate([f["x"] for f in feeds]))
    scales = []
    for one in (False, True):
        out = tmp_path / f"q{one}.onnx"
        quantize_static(str(model), str(out), _reader(feeds, one), quant_format=QuantFormat.QOperator,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        scales.append({t.name: onnx.numpy_helper.to_array(t).tolist() for t in onnx.load(str(out)).graph.initializer
                       if "scale" in t.name or "zero_point" in t.name})
    assert scales[0] and scales[0] == scales[1]
