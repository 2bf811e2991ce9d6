"""Keras / TensorFlow models as ``--model`` (the course writes tf.keras): a small CNN trained on real
Fashion-MNIST inside the test, and tf.keras.applications' ResNet50 with a Dense head, to TFLite int8 (through
``tf.lite.TFLiteConverter``) and ONNX int8 (through tf2onnx), validated against TensorFlow's outputs."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from dlcompress.toolkit.loaders.keras_model import tensorflow

if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("tf2onnx") is None:
    pytest.skip("Keras models need the [tensorflow] extra", allow_module_level=True)
tf = tensorflow()  # after triton's library, as the product imports it

pytestmark = pytest.mark.tensorflow

TRAIN = 3000  # real Fashion-MNIST images the Keras CNN is trained on (one epoch: ~0.7 top-1)
EVAL = 500


@pytest.fixture(scope="module")
def fashion():
    from dlcompress.toolkit.data import DATASETS
    from dlcompress.toolkit.errors import DatasetError

    try:
        return DATASETS.get("fashion-mnist")()
    except DatasetError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def keras_cnn(fashion, tmp_path_factory):
    """(path of a .keras CNN trained on real Fashion-MNIST, its own top-1 on the first EVAL test images)."""
    x = fashion.train.batch(range(TRAIN)).astype(np.float32) / 255.0
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([
        tf.keras.Input((28, 28, 1)),
        tf.keras.layers.Conv2D(16, 3, activation="relu"), tf.keras.layers.MaxPool2D(),
        tf.keras.layers.Conv2D(32, 3, activation="relu"), tf.keras.layers.MaxPool2D(),
        tf.keras.layers.Flatten(), tf.keras.layers.Dense(10),
    ])
    model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, fashion.train.labels[:TRAIN], epochs=1, batch_size=64, verbose=0)
    test = fashion.test.batch(range(EVAL)).astype(np.float32) / 255.0
    top1 = float(np.mean(model.predict(test, verbose=0).argmax(1) == fashion.test.labels[:EVAL]))
    path = tmp_path_factory.mktemp("keras") / "fashion_cnn.keras"
    model.save(str(path))
    return path, top1


def test_loads_as_a_channels_last_image_classifier(keras_cnn):
    from dlcompress.recipes.loading import load_model
    from dlcompress.toolkit.artifact import Format

    art = load_model(str(keras_cnn[0]))
    spec = art.spec
    assert art.format is Format.KERAS and spec.task == "image-classification" and spec.card.num_classes == 10
    assert spec.inputs[0].shape == ("batch", 28, 28, 1) and spec.preprocess.channels_last
    assert spec.image_shape == (1, 28, 28) and spec.card.default_data == "photos"


@pytest.mark.parametrize("backend, suffix, converter", [
    ("onnxruntime", ".onnx", "tf2onnx"),
    ("litert", ".tflite", "tflite-converter"),
])
def test_int8_top1_within_one_point_of_the_keras_model(cli, keras_cnn, tmp_path, backend, suffix, converter):
    """The acceptance case: the trained CNN's int8 top-1 on held-out real images is within 1 point of Keras's
    own (computed by TensorFlow in this test on the same images); the fp32 export is validated against TF."""
    path, keras_top1 = keras_cnn
    out = tmp_path / "q"
    r = cli("quantize", "--model", path, "--data", "fashion-mnist", "--backend", backend, "--eval-samples", EVAL,
            "--calib-samples", 128, "--bench-seconds", 1, "--out", out, "--json")
    assert r.code == 0, r.err
    rep = json.loads(r.out)
    fp32, int8 = rep["rows"]
    assert fp32["status"] == "validated" and int8["status"] == "quantized"
    assert abs(fp32["metric"]["value"] - keras_top1) <= 0.002  # the export is the Keras model
    assert int8["metric"]["value"] >= keras_top1 - 0.01, (int8["metric"], keras_top1)
    assert int8["size_bytes"] < 0.5 * fp32["size_bytes"]
    lineage = json.loads((out / "lineage.json").read_text())
    exported, quantized = lineage[f"model{suffix}"][-1], lineage[f"model.int8{suffix}"][-1]
    assert exported["params"]["route"] == converter
    if backend == "litert":
        assert quantized["params"]["backend"] == "tflite-converter" and quantized["params"]["full_integer"]
        assert quantized["params"]["calibration_samples"] == 128
    else:
        import onnx

        ops = {n.op_type for n in onnx.load(str(out / "model.int8.onnx")).graph.node}
        assert "QLinearConv" in ops or "QuantizeLinear" in ops


def test_savedmodel_folder_exports_to_openvino_validated(cli, keras_cnn, tmp_path):
    """A SavedModel folder (``model.export(DIR)``) to OpenVINO IR through tf2onnx, validated against TF."""
    model = tf.keras.models.load_model(str(keras_cnn[0]))
    saved = tmp_path / "saved"
    model.export(str(saved), verbose=False)
    out = tmp_path / "m.xml"
    r = cli("export", "--model", saved, "--format", "openvino", "--data", "fashion-mnist", "--out", out)
    assert r.code == 0, r.err
    assert out.exists() and out.with_suffix(".bin").exists() and ": validated: max abs diff" in r.out, r.out


@pytest.mark.slow
def test_resnet50_with_a_dense_head_to_tflite_and_onnx_int8(cli, tmp_path):
    """tf.keras.applications' ResNet50 (weights=None: nothing downloaded) with a Dense head, brought with no
    --data: calibrated on real photos (said in the output), int8 for ONNX and TFLite, both validated."""
    tf.keras.utils.set_random_seed(0)
    base = tf.keras.applications.resnet.ResNet50(weights=None, include_top=False, input_shape=(96, 96, 3), pooling="avg")
    model = tf.keras.Model(base.input, tf.keras.layers.Dense(10)(base.output))
    path = tmp_path / "resnet50_head.keras"
    model.save(str(path))
    for backend, suffix in (("onnxruntime", ".onnx"), ("litert", ".tflite")):
        out = tmp_path / backend
        r = cli("quantize", "--model", path, "--backend", backend, "--calib-samples", 16, "--eval-samples", 16,
                "--bench-seconds", 1, "--out", out, "--json")
        assert r.code == 0, r.err
        rep = json.loads(r.out)
        assert any(n.startswith("data: photos (real photos") for n in rep["notes"]), rep["notes"]
        fp32, int8 = rep["rows"]
        assert fp32["status"] == "validated" and int8["status"] == "quantized"
        assert int8["size_bytes"] < 0.35 * fp32["size_bytes"]
        assert (out / f"model.int8{suffix}").exists()


# ---------------------------------------------------------------------------------------------------------
# bad input: one line, exit 2, nothing written


def test_a_keras_file_that_needs_custom_objects(cli, tmp_path):
    import keras

    def call(self, x):
        return x * 2.0

    scale = type("Scale", (keras.layers.Layer,), {"call": call, "__module__": "a_module_that_is_not_imported"})
    model = keras.Sequential([keras.Input((8,)), scale(), keras.layers.Dense(2)])
    path = tmp_path / "custom.keras"
    model.save(str(path))
    r = cli("quantize", "--model", path, "--out", tmp_path / "o")
    assert r.code == 2 and "custom class 'Scale'" in r.err and "register_keras_serializable" in r.err
    assert len(r.err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_a_file_that_is_not_a_keras_archive(cli, tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(b"this is not a zip archive")
    r = cli("export", "--model", path, "--out", tmp_path / "m.onnx")
    assert r.code == 2 and "not a readable Keras file" in r.err and "Traceback" not in r.err
    assert not (tmp_path / "m.onnx").exists()


def test_a_keras_model_without_the_tensorflow_extra(tmp_path):
    """With tensorflow missing, the model is refused before any work with the extra that installs it, and the
    backend table says the same."""
    path = tmp_path / "model.keras"
    path.write_bytes(b"never read")
    code = ("import sys; sys.modules['tensorflow'] = None; from dlcompress.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", code, "quantize", "--model", str(path), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 2 and "pip install 'dlcompress[tensorflow]'" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "o").exists()
    table = subprocess.run([sys.executable, "-c", code, "backends", "--json"], capture_output=True, text=True, timeout=120, check=False)
    rows = {row["name"]: row for row in json.loads(table.stdout)}
    assert rows["keras"]["installed"] is False and rows["keras"]["install"] == "pip install 'dlcompress[tensorflow]'"
    assert rows["onnx-file"]["installed"] is True
