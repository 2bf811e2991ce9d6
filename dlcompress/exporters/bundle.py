"""A mobile bundle: beside a model file, the manifest an Android/iOS app needs (inputs, outputs, normalisation,
labels, int8 I/O scales and zero points, pre/post-processing) and usage snippets generated from it.

The tensors are read back from the written file itself (the LiteRT interpreter's details, the ExecuTorch
method's metadata, the ONNX graph, the OpenVINO model), so the manifest says what the file really takes: an
``--int8-io`` ``.tflite`` declares int8 tensors with the scale and zero point an app must apply.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dlcompress.toolkit.artifact import Artifact, Format
from dlcompress.toolkit.data import ImageTransform
from dlcompress.toolkit.errors import UnsupportedError
from dlcompress.toolkit.outputs import atomic_file

SCHEMA = "dlcompress.bundle"
MANIFEST = "bundle.json"
EXECUTORCH_DTYPES = {0: "uint8", 1: "int8", 2: "int16", 3: "int32", 4: "int64", 5: "float16", 6: "float32",
                     7: "float64", 11: "bool", 15: "bfloat16"}
"""ExecuTorch's ScalarType codes (c10's numbering) as numpy dtype names."""


@dataclass(frozen=True)
class TensorIO:
    """One input or output as the file declares it; ``scale``/``zero_point`` for quantized (int8) tensors:
    ``real = scale * (q - zero_point)``."""

    name: str
    shape: list[int | str]
    dtype: str
    scale: float | None = None
    zero_point: int | None = None


def file_io(artifact: Artifact) -> tuple[list[TensorIO], list[TensorIO]]:
    """The inputs and outputs of ``artifact``'s file, named as the model's spec names them."""
    readers = {Format.LITERT: _litert_io, Format.EXECUTORCH: _executorch_io, Format.ONNX: _onnx_io,
               Format.OPENVINO: _openvino_io}
    if artifact.format not in readers or artifact.path is None:
        raise UnsupportedError(f"a bundle describes an exported model file, not a {artifact.format} model",
                               "bundle a .tflite, .pte, .onnx or .xml (--backend litert or executorch for phones)")
    inputs, outputs = readers[artifact.format](Path(artifact.path))
    return _named(inputs, [t.name for t in artifact.spec.inputs]), _named(outputs, [t.name for t in artifact.spec.outputs])


def _named(tensors: list[TensorIO], names: list[str]) -> list[TensorIO]:
    """The spec's names where the file numbers its tensors (LiteRT, ExecuTorch) and the counts agree."""
    if len(names) != len(tensors):
        return tensors
    return [TensorIO(n, t.shape, t.dtype, t.scale, t.zero_point) for n, t in zip(names, tensors)]


def _litert_io(path: Path) -> tuple[list[TensorIO], list[TensorIO]]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))

    def one(d: dict[str, Any]) -> TensorIO:
        scale, zero = d["quantization"]
        quantized = bool(scale)
        return TensorIO(d["name"], [int(s) for s in d["shape"]], str(d["dtype"].__name__),
                        float(scale) if quantized else None, int(zero) if quantized else None)

    return [one(d) for d in interpreter.get_input_details()], [one(d) for d in interpreter.get_output_details()]


def _executorch_io(path: Path) -> tuple[list[TensorIO], list[TensorIO]]:
    from dlcompress.toolkit.runtimes.executorch_runtime import load_method

    meta = load_method(path, 1).metadata

    def one(kind: str, t: Any, i: int) -> TensorIO:
        return TensorIO(f"{kind}{i}", [int(s) for s in t.sizes()], EXECUTORCH_DTYPES.get(int(t.dtype()), str(t.dtype())))

    return ([one("input", meta.input_tensor_meta(i), i) for i in range(meta.num_inputs())],
            [one("output", meta.output_tensor_meta(i), i) for i in range(meta.num_outputs())])


def _onnx_io(path: Path) -> tuple[list[TensorIO], list[TensorIO]]:
    import onnx

    from dlcompress.toolkit.loaders.onnx_file import graph_signature

    inputs, outputs = graph_signature(onnx.load(str(path), load_external_data=False))
    return ([TensorIO(t.name, list(t.shape), t.dtype) for t in inputs],
            [TensorIO(t.name, list(t.shape), t.dtype) for t in outputs])


def _openvino_io(path: Path) -> tuple[list[TensorIO], list[TensorIO]]:
    import openvino as ov

    model = ov.Core().read_model(str(path))

    def one(port: Any, i: int, kind: str) -> TensorIO:
        names = sorted(port.get_names())
        shape = [d.get_length() if d.is_static else "?" for d in port.get_partial_shape()]
        return TensorIO(names[0] if names else f"{kind}{i}", shape, port.get_element_type().to_dtype().name)

    return ([one(p, i, "input") for i, p in enumerate(model.inputs)],
            [one(p, i, "output") for i, p in enumerate(model.outputs)])


def manifest(artifact: Artifact, preprocess: dict[str, Any] | None = None,
             labels: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The bundle's manifest. ``preprocess``: how a raw input becomes the model's (images: size, channels,
    scale, mean, std, layout; see :func:`image_preprocess`); ``labels``: class names in output order."""
    inputs, outputs = file_io(artifact)
    spec = artifact.spec
    post = _postprocess(spec.task, outputs, labels)
    if artifact.postprocess is not None:  # the file ends before the model's own outputs (a detector's head)
        spec = artifact.postprocess.spec
        post = {"kind": "host", "outputs": [t.name for t in spec.outputs],
                "note": f"the file returns raw head outputs; the app runs {artifact.postprocess.description}"}
    return {
        "schema": SCHEMA, "schema_version": 1, "model": Path(artifact.path).name, "format": str(artifact.format),  # type: ignore[arg-type]
        "precision": artifact.precision, "task": spec.task, "source": spec.name,
        "integer_io": any(t.scale is not None for t in (*inputs, *outputs)),
        "inputs": [asdict(t) for t in inputs], "outputs": [asdict(t) for t in outputs],
        "preprocess": preprocess or {"kind": "raw", "note": "inputs are fed as the model takes them"},
        "postprocess": post, "labels": list(labels) if labels else None,
        "runtime": _runtime_line(artifact.format),
    }


def image_preprocess(transform: ImageTransform) -> dict[str, Any]:
    """What ``transform`` (dlcompress's own image transform) does, for an app to repeat: decode to RGB (or
    gray), resize so the image covers its size keeping the aspect, center-crop, scale to [0, 1], then
    ``(x - mean) / std``."""
    t = transform
    return {"kind": "image", "size": list(t.size), "channels": t.channels, "color": "gray" if t.channels == 1 else "RGB",
            "resize": "cover then center-crop (aspect kept)", "scale": 1 / 255,
            "mean": list(t.mean) if t.mean is not None else None, "std": list(t.std) if t.std is not None else None,
            "layout": "NHWC" if t.channels_last else "NCHW"}


def _postprocess(task: str, outputs: list[TensorIO], labels: tuple[str, ...] | None) -> dict[str, Any]:
    if task.endswith("classification"):
        return {"kind": "classification", "output": outputs[0].name if outputs else None,
                "note": "logits: the class is the argmax (softmax for probabilities)" + ("; names in labels" if labels else "")}
    if "detection" in task:
        return {"kind": "detection", "note": "boxes (x1, y1, x2, y2 in input pixels), scores and labels, NMS done"}
    return {"kind": "raw", "note": f"the {task} outputs as the model returns them"}


def _runtime_line(fmt: Format) -> str:
    return {Format.LITERT: "LiteRT Interpreter (com.google.ai.edge.litert; XNNPACK delegate on CPU)",
            Format.EXECUTORCH: "ExecuTorch Module (XNNPACK backend linked in)",
            Format.ONNX: "ONNX Runtime (onnxruntime-android / onnxruntime-objc, or any ONNX Runtime)",
            Format.OPENVINO: "OpenVINO Runtime (CPU plugin)"}.get(fmt, str(fmt))


# ------------------------------------------------------------------------------------------------ snippets
def snippet(m: dict[str, Any]) -> tuple[str, str, str]:
    """``(language, file name, code)``: a minimal app-side use of the bundle's model, values filled in."""
    fmt = Format(m["format"])
    if fmt is Format.LITERT:
        return "Kotlin", "LiteRT.kt", _kotlin(m)
    if fmt is Format.EXECUTORCH:
        return "C++", "executorch_main.cpp", _cpp(m)
    return "Python", "run.py", _python(m)


def _fill_lines(m: dict[str, Any], lang: str) -> list[str]:
    """Comment lines that say the preprocessing, in the snippet's comment syntax."""
    c = "//" if lang != "Python" else "#"
    pre = m["preprocess"]
    lines = [f"{c} {m['model']}: {m['format']} {m['precision']}, task {m['task']} (from dlcompress, {m['source']})"]
    if pre["kind"] == "image":
        norm = (f"then (x - mean) / std with mean={pre['mean']} std={pre['std']}" if pre["mean"] is not None
                else "no normalisation")
        lines.append(f"{c} input: {pre['color']} image, {pre['resize']} to {pre['size'][0]}x{pre['size'][1]}, "
                     f"x/255, {norm}, layout {pre['layout']}")
    return lines


def _quant_lines(t: dict[str, Any], kind: str, lang: str) -> list[str]:
    if t["scale"] is None:
        return []
    c = "//" if lang != "Python" else "#"
    zp = int(t["zero_point"])
    if kind == "input":
        shift = f" {'+' if zp >= 0 else '-'} {abs(zp)}" if zp else ""
        return [f"{c} {t['name']} is {t['dtype']}: q = round(x / {t['scale']:.8g}){shift}, clamped to the type"]
    centred = f"(q {'-' if zp >= 0 else '+'} {abs(zp)})" if zp else "q"
    return [f"{c} {t['name']} is {t['dtype']}: x = {t['scale']:.8g} * {centred}"]


def _kotlin(m: dict[str, Any]) -> str:
    i, o = m["inputs"][0], m["outputs"][0]
    in_elems = _count(i["shape"])
    out_elems = _count(o["shape"])
    int8_in, int8_out = i["scale"] is not None, o["scale"] is not None
    lines = [*_fill_lines(m, "Kotlin"), *_quant_lines(i, "input", "Kotlin"), *_quant_lines(o, "output", "Kotlin"),
             "import org.tensorflow.lite.Interpreter", "import java.io.File", "import java.nio.ByteBuffer",
             "import java.nio.ByteOrder", "",
             "fun classify(modelFile: File, input: FloatArray): FloatArray {",
             "    val interpreter = Interpreter(modelFile, Interpreter.Options().setNumThreads(2))",
             f"    val inBuf = ByteBuffer.allocateDirect({in_elems} * {1 if int8_in else 4}).order(ByteOrder.nativeOrder())"]
    if int8_in:
        lines.append(f"    for (x in input) inBuf.put((Math.round(x / {i['scale']:.8g}f) + {i['zero_point']})"
                     ".coerceIn(-128, 127).toByte())")
    else:
        lines.append("    for (x in input) inBuf.putFloat(x)")
    lines += [f"    val outBuf = ByteBuffer.allocateDirect({out_elems} * {1 if int8_out else 4}).order(ByteOrder.nativeOrder())",
              "    interpreter.run(inBuf.rewind(), outBuf)", "    outBuf.rewind()"]
    if int8_out:
        lines.append(f"    val out = FloatArray({out_elems}) {{ {o['scale']:.8g}f * (outBuf.get().toInt() - ({o['zero_point']})) }}")
    else:
        lines.append(f"    val out = FloatArray({out_elems}) {{ outBuf.getFloat() }}")
    lines += ["    interpreter.close()", "    return out  // " + m["postprocess"]["note"], "}", ""]
    return "\n".join(lines)


def _cpp(m: dict[str, Any]) -> str:
    i, o = m["inputs"][0], m["outputs"][0]
    sizes = ", ".join(str(s) for s in i["shape"])
    lines = [*_fill_lines(m, "C++"), *_quant_lines(i, "input", "C++"), *_quant_lines(o, "output", "C++"),
             "#include <executorch/extension/module/module.h>", "#include <executorch/extension/tensor/tensor.h>",
             "#include <vector>", "", "using executorch::extension::Module;",
             "using executorch::extension::from_blob;", "",
             "std::vector<float> run(const char* path, std::vector<float> input) {",
             "  Module module(path);  // link the XNNPACK backend (executorch::backends::xnnpack)",
             f"  auto tensor = from_blob(input.data(), {{{sizes}}});",
             "  auto result = module.forward(tensor);",
             "  const auto out = result->at(0).toTensor();",
             "  const float* data = out.const_data_ptr<float>();",
             f"  return std::vector<float>(data, data + out.numel());  // {m['postprocess']['note']}", "}", ""]
    return "\n".join(lines)


def _python(m: dict[str, Any]) -> str:
    i = m["inputs"][0]
    shape = [1 if isinstance(s, str) else s for s in i["shape"]]
    if Format(m["format"]) is Format.OPENVINO:
        body = ["import numpy as np", "import openvino as ov", "",
                f"model = ov.Core().compile_model({m['model']!r}, 'CPU')",
                f"x = np.zeros({shape}, dtype=np.{i['dtype']})  # the preprocessed input",
                "y = model(x)[0]"]
    else:
        body = ["import numpy as np", "import onnxruntime as ort", "",
                f"session = ort.InferenceSession({m['model']!r}, providers=['CPUExecutionProvider'])",
                f"x = np.zeros({shape}, dtype=np.{i['dtype']})  # the preprocessed input",
                f"y = session.run(None, {{{i['name']!r}: x}})[0]"]
    return "\n".join([*_fill_lines(m, "Python"), *body, f"# {m['postprocess']['note']}", ""])


def _count(shape: list[int | str]) -> int:
    """Elements of one item: symbolic dims count as 1 (the snippets feed batch 1)."""
    return math.prod(s for s in shape if isinstance(s, int))


def write_bundle(artifact: Artifact, folder: Path, preprocess: dict[str, Any] | None = None,
                 labels: tuple[str, ...] | None = None) -> list[Path]:
    """``folder/bundle.json`` and ``folder/snippets/<file>``, each written atomically; returns both paths."""
    m = manifest(artifact, preprocess, labels)
    _, name, code = snippet(m)
    m["snippet"] = f"snippets/{name}"
    (folder / "snippets").mkdir(parents=True, exist_ok=True)
    paths = [folder / MANIFEST, folder / "snippets" / name]
    for path, text in zip(paths, (json.dumps(m, indent=2) + "\n", code)):
        with atomic_file(path, overwrite=True) as tmp:
            tmp.write_text(text)
            tmp.chmod(0o644)
    return paths
