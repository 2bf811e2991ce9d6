"""Keras / TensorFlow models as ``--model``: ``model.keras``, ``model.h5`` (Keras 3 or tf.keras files) or a
SavedModel folder (``saved_model.pb``, e.g. from ``model.export(dir)``).

The model stays a TensorFlow model (:attr:`Format.KERAS`); the deployment formats are made from it by
TensorFlow's own converters, and every one is validated against TensorFlow's outputs:

- ONNX (and from it OpenVINO IR) through tf2onnx (``from_function`` on a ``tf.function`` of the model: tf2onnx's
  ``from_keras`` fails on Keras 3 models, ``KeyError: 'keras_tensor_4'``, measured with tf2onnx 1.17/Keras 3.15);
- TFLite through ``tf.lite.TFLiteConverter``: fp32, fp16 weights, dynamic-range int8, and full int8 with a
  representative dataset of real calibration inputs (float32 I/O by default, int8 I/O on request).

Image inputs stay as the model declares them: ``[batch, H, W, C]`` (channels last), which the spec records in
``Preprocess.channels_last`` so real images are fed in that layout. TensorFlow is imported on first use, with
its start-up lines sent to the library log, and only when such a model is asked for (the ``[tensorflow]``
extra installs it).
"""

from __future__ import annotations

import importlib.util
import re
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from dlcompress.toolkit.artifact import Artifact, Format, StageRecord
from dlcompress.toolkit.errors import (
    BackendUnavailableError,
    ExportError,
    InputShapeError,
    ModelLoadError,
    first_line,
)
from dlcompress.toolkit.spec import (
    ModelCard,
    ModelSpec,
    Preprocess,
    TensorSpec,
    Tolerance,
)

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
INSTALL_HINT = "pip install 'dlcompress[tensorflow]'"
ONNX_OPSET = 17


def is_keras_path(name: str) -> bool:
    """A Keras file by its suffix, or a SavedModel folder (holds ``saved_model.pb``)."""
    path = Path(name)
    return path.suffix.lower() in KERAS_SUFFIXES or (path.is_dir() and (path / "saved_model.pb").exists())


def tensorflow_available() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


def require_tensorflow() -> None:
    """One line naming the extra to install when tensorflow is missing (without importing it)."""
    if not tensorflow_available():
        raise BackendUnavailableError("Keras and TensorFlow models need tensorflow, which is not installed", INSTALL_HINT)


def tensorflow() -> Any:
    """``import tensorflow`` (its C++ start-up lines silenced), or one line naming the extra to install."""
    require_tensorflow()
    from dlcompress.toolkit.tensorflow_import import import_tensorflow

    return import_tensorflow()


class KerasModel:
    """A loaded Keras model or SavedModel: numpy in, numpy out, and the ``tf.function`` converters take."""

    def __init__(self, path: Path) -> None:
        tf = tensorflow()
        self.path = path
        self.saved_model = path.is_dir()
        if self.saved_model:
            self._loaded = tf.saved_model.load(str(path))
            signature = self._loaded.signatures.get("serving_default")
            if signature is None:
                raise ModelLoadError(f"SavedModel {path} has no serving_default signature",
                                     "export it with model.export(dir) or tf.saved_model.save(..., signatures=...)")
            self._signature = signature
            specs = signature.structured_input_signature[1]
            self._input_keys = sorted(specs)
            self.input_specs = [specs[k] for k in self._input_keys]
            self._output_keys = sorted(signature.structured_outputs)
            self.output_shapes = [tuple(signature.structured_outputs[k].shape) for k in self._output_keys]
        else:
            self.model = _load_keras_file(path)
            self.input_specs = [tf.TensorSpec(t.shape, t.dtype, name=getattr(t, "name", None)) for t in self.model.inputs]
            self.output_shapes = [tuple(t.shape) for t in self.model.outputs]

    def __call__(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        tf = tensorflow()
        return [np.asarray(o) for o in self._outputs([tf.convert_to_tensor(a) for a in arrays])]

    def function(self, batch: int | None, names: list[str]) -> Any:
        """A ``tf.function`` over the model with inputs named ``names`` (batch ``None`` = dynamic): outputs as a
        list in the spec's order."""
        tf = tensorflow()
        signature = [tf.TensorSpec((batch, *s.shape[1:]), s.dtype, name=n) for s, n in zip(self.input_specs, names)]

        @tf.function(input_signature=signature)
        def serve(*xs: Any) -> Any:
            return self._outputs(list(xs))

        return serve

    def _outputs(self, tensors: list[Any]) -> list[Any]:
        """The model's outputs on ``tensors`` as a list in the spec's order (a SavedModel through its serving
        signature, a Keras model called in inference mode)."""
        if self.saved_model:
            out = self._signature(**dict(zip(self._input_keys, tensors)))
            return [out[k] for k in self._output_keys]
        out = self.model(tensors if len(tensors) > 1 else tensors[0], training=False)
        return list(out) if isinstance(out, (list, tuple)) else list(out.values()) if isinstance(out, dict) else [out]


def _load_keras_file(path: Path) -> Any:
    tf = tensorflow()
    try:
        return tf.keras.models.load_model(str(path), compile=False)
    except (ValueError, TypeError) as e:
        full = " ".join(str(e).split())
        missing = re.search(r"(?:Could not locate|Unknown) (?:class|layer|object)[^'\"]*['\"]([\w.]+)['\"]", full)
        if missing or "could not be deserialized" in full:
            what = f"the custom class {missing.group(1)!r}" if missing else "custom objects"
            raise ModelLoadError(f"{path.name} needs {what}, which Keras cannot find in this process",
                                 "decorate it with @keras.saving.register_keras_serializable() in a module that is "
                                 "imported, or export a SavedModel with model.export(DIR) and give DIR") from None
        if "File not found" in full or "zip" in full:
            raise ModelLoadError(f"{path} is not a readable Keras file (a .keras file is a zip archive)",
                                 "save it with model.save('model.keras')") from None
        raise ModelLoadError(f"cannot load Keras model {path}: {first_line(e, 240)}") from None
    except OSError as e:
        raise ModelLoadError(f"{path} is not a readable Keras file: {first_line(e, 200)}",
                             "save it with model.save('model.keras')") from None


@lru_cache(maxsize=4)
def keras_model(path: str) -> KerasModel:
    """The model at ``path``, loaded once per process (the loader, the runtime and the converters share it)."""
    return KerasModel(Path(path))


def load_keras(path: Path, mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None) -> Artifact:
    """A Keras file or SavedModel folder as a :attr:`Format.KERAS` artifact described by its own signature."""
    if not path.exists():
        raise ModelLoadError(f"Keras model {path} does not exist")
    model = keras_model(str(path.resolve()))
    if not model.input_specs:
        raise ModelLoadError(f"{path} declares no inputs")
    names = ["input"] if len(model.input_specs) == 1 else [_clean(s.name, f"input_{i}") for i, s in enumerate(model.input_specs)]
    inputs = tuple(_tensor_spec(n, tuple(s.shape), s.dtype.name, path.name) for n, s in zip(names, model.input_specs))
    outputs = tuple(
        TensorSpec("output" if len(model.output_shapes) == 1 else f"output_{i}",
                   tuple("batch" if (j == 0 or d is None) else int(d) for j, d in enumerate(shape)))
        for i, shape in enumerate(model.output_shapes)
    )
    first = inputs[0]
    is_image = len(first.shape) == 4 and first.dtype == "float32" and first.shape[3] in (1, 3)
    is_classifier = is_image and len(outputs) == 1 and len(outputs[0].shape) == 2 and isinstance(outputs[0].shape[1], int)
    channels = int(first.shape[3]) if is_image else 1
    if mean is not None and len(mean) == 1 and is_image:
        mean, std = mean * channels, (std or (1.0,)) * channels
    spec = ModelSpec(
        name=path.stem if path.is_file() else path.name, task="image-classification" if is_classifier else "custom",
        builder=_no_builder, inputs=inputs, outputs=outputs,
        preprocess=Preprocess(mean=mean, std=std, channels_last=is_image),
        tolerance=Tolerance(atol=1e-4, rtol=1e-3),
        card=ModelCard(family="keras", default_data="photos" if is_image else "synthetic",
                       num_classes=int(outputs[0].shape[1]) if is_classifier else None),
        hints={"keras": {"path": str(path.resolve())}},
    )
    size = sum(p.stat().st_size for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file())
    record = StageRecord("load", {"keras": str(path), "kind": "saved_model" if path.is_dir() else path.suffix.lstrip(".")},
                         {"size_bytes": size})
    return Artifact(Format.KERAS, spec, path=path.resolve(), lineage=(record,))


def _clean(name: str | None, fallback: str) -> str:
    text = re.sub(r"[^A-Za-z0-9_]", "_", (name or "").split(":")[0])
    return text or fallback


def _tensor_spec(name: str, shape: tuple[Any, ...], dtype: str, file: str) -> TensorSpec:
    dims: list[int | str] = []
    for i, d in enumerate(shape):
        if i == 0:
            dims.append("batch")
        elif d is None:
            raise InputShapeError(f"input {name} of {file} has an unknown size in dim {i} ({list(shape)})",
                                  "build the model with a fixed input size, e.g. keras.Input((224, 224, 3))")
        else:
            dims.append(int(d))
    return TensorSpec(name, tuple(dims), dtype, (0.0, 100.0) if dtype.startswith("int") else (0.0, 1.0))


def _no_builder() -> Any:
    raise ModelLoadError("this model is a Keras/TensorFlow model: there is no torch module to build")


def model_of(artifact: Artifact) -> KerasModel:
    """The loaded TensorFlow model behind a Keras artifact (or behind what was exported from one)."""
    art = artifact
    while art is not None and art.format is not Format.KERAS:
        art = art.source
    if art is None:
        raise ExportError(f"{artifact.spec.name} did not come from a Keras/TensorFlow model")
    return keras_model(str(art.path))


# ---------------------------------------------------------------------------------------------------------
# Converters


def keras_to_onnx(artifact: Artifact, out_path: Path, opset: int | None = None, dynamic_batch: bool = True) -> dict[str, Any]:
    """tf2onnx on a ``tf.function`` of the model; graph inputs and outputs carry the spec's names."""
    if importlib.util.find_spec("tf2onnx") is None:
        raise BackendUnavailableError("ONNX export of a Keras/TensorFlow model needs tf2onnx, which is not installed",
                                      INSTALL_HINT)
    from dlcompress.toolkit.native_output import native_output_captured
    from dlcompress.toolkit.progress import silenced

    spec = artifact.spec
    names = [t.name for t in spec.inputs]
    fn = model_of(artifact).function(None if dynamic_batch else 1, names)
    with native_output_captured(), silenced("tf2onnx", ignore_warnings=True):
        import tf2onnx

        proto, _ = tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=opset or ONNX_OPSET)
    renamed = _name_outputs(proto, [t.name for t in spec.outputs])
    import onnx

    onnx.save(proto, str(out_path))
    return {"route": "tf2onnx", "tf2onnx": tf2onnx.__version__, "opset": opset or ONNX_OPSET, "outputs_renamed": renamed}


def _name_outputs(proto: Any, names: list[str]) -> int:
    """tf2onnx names outputs ``Identity:0``...; rename them (and their producers' outputs) to the spec's."""
    outs = list(proto.graph.output)
    mapping = {o.name: n for o, n in zip(outs, names) if o.name != n}
    for node in proto.graph.node:
        node.output[:] = [mapping.get(x, x) for x in node.output]
        node.input[:] = [mapping.get(x, x) for x in node.input]
    for o in outs:
        o.name = mapping.get(o.name, o.name)
    return len(mapping)


def keras_to_tflite(artifact: Artifact, out_path: Path, mode: str = "fp32",
                    representative: list[dict[str, np.ndarray]] | None = None, integer_io: bool = False) -> dict[str, Any]:
    """``tf.lite.TFLiteConverter`` at batch 1: ``fp32``, ``fp16`` (float16 weights), ``dynamic`` (int8 weights,
    dynamic-range activations) or ``static`` (full int8 from ``representative`` feeds)."""
    tf = tensorflow()
    from dlcompress.toolkit.native_output import native_output_captured
    from dlcompress.toolkit.progress import silenced

    spec = artifact.spec
    names = [t.name for t in spec.inputs]
    fn = model_of(artifact).function(1, names)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()])
    params: dict[str, Any] = {"converter": f"tf.lite.TFLiteConverter (tensorflow {tf.__version__})", "batch": 1}
    if mode == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
        params.update(weights="float16", activations="float32")
    elif mode == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        params.update(weights="int8 per-channel", activations="int8 computed per run (dynamic range)")
    elif mode == "static":
        if not representative:
            raise ExportError("full-integer TFLite conversion needs calibration data", "give --data")
        items = _single_items(representative, names)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([item[n] for n in names] for item in items)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if integer_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        params.update(weights="int8 per-channel", activations="int8 per-tensor (static)", calibration_samples=len(items),
                      io="int8" if integer_io else "float32")
    elif mode != "fp32":
        raise ExportError(f"unknown TFLite conversion mode {mode!r}")
    start = time.perf_counter()
    try:
        with native_output_captured(), silenced("absl", "tensorflow", ignore_warnings=True):
            flatbuffer = converter.convert()
    except Exception as e:  # noqa: BLE001 - the converter raises ConverterError and friends
        raise ExportError(f"TFLite conversion of {spec.name} failed: {type(e).__name__}: {first_line(e, 300)}") from None
    Path(out_path).write_bytes(flatbuffer)
    params["convert_seconds"] = round(time.perf_counter() - start, 2)
    return params


def _single_items(feeds: list[dict[str, np.ndarray]], names: list[str]) -> list[dict[str, np.ndarray]]:
    """Calibration batches as batch-1 items (the converted model's input shape)."""
    items = []
    for feed in feeds:
        for i in range(len(feed[names[0]])):
            items.append({n: np.ascontiguousarray(feed[n][i : i + 1]) for n in names})
    return items
