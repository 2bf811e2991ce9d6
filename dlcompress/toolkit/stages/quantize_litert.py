"""LiteRT quantization: a ``.tflite`` in, a ``.tflite`` out; the work happens on the torch graph it came from.

litert-torch quantizes with PT2E: ``torch.export`` the source model, annotate it with its
``PT2EQuantizer`` (int8 symmetric per-channel weights, int8 per-tensor activations), calibrate with
torchao's ``prepare_pt2e`` on the real calibration feeds, ``convert_pt2e(fold_quantize=False)``, and let
``litert_torch.convert(..., quant_config=QuantConfig(pt2e_quantizer=q))`` turn the Q/DQ graph into
integer TFLite kernels.

- ``static``: full-integer int8. The converter gives int8 inputs and outputs; by default a QUANTIZE /
  DEQUANTIZE pair is put back at the edges so the model takes and returns float32 like the fp32 one.
  ``LiteRTQuantizeOptions(integer_io=True)`` (``--int8-io``) keeps the int8 interface integer-only
  accelerators (Edge TPU, many NPUs) need; the LiteRT runtime then quantizes inputs and dequantizes outputs.
- ``dynamic``: int8 weights, activations quantized per run by the kernels (PT2E dynamic config).
- ``fp16``: float16 weights (the exporter's fp16 option).

The calibration graph is exported with a dynamic batch so calibration batches of any size run; the model is
then converted at batch 1 like the fp32 export (LiteRT shapes are static).

Three fixes make CNNs full-integer and Edge-TPU-mappable (all exact; measured on ResNet-18/50, MobileNetV2):
:func:`split_shared_activation_calls` (a reused ``nn.ReLU`` left every residual ADD in float),
:func:`tag_bare_adds` (a plain residual ``x + f(x)`` had no source record, so its ADD stayed float) and
:func:`~dlcompress.toolkit.tflite_model.padv2_as_pad` (a padded max-pool after a ReLU becomes PADV2, which the
Edge TPU does not list). The lineage records ``full_integer`` and, where some op stayed float, ``float_ops``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from dlcompress.toolkit.artifact import Artifact, Format
from dlcompress.toolkit.calibration import Calibration
from dlcompress.toolkit.errors import QuantizationError, UnsupportedError
from dlcompress.toolkit.litert_convert import (
    EXPORT_BATCH,
    conversion_error,
    convert_to_tflite,
    fp16_quant_config,
    litert_torch_module,
    litert_torch_version,
    sample_args,
)
from dlcompress.toolkit.native_output import Captured
from dlcompress.toolkit.progress import progress_bar, silenced
from dlcompress.toolkit.stages.quantize import (
    ADVANCED_OPTIONS,
    OPTION_CHECKS,
    QUANTIZERS,
    QuantizeOptions,
    quantized_file,
    reject_onnxruntime_flags,
)
from dlcompress.toolkit.tflite_model import (
    INTEGER_TYPES,
    float_interface,
    padv2_as_pad,
    read_graph,
)

METHODS = ("static", "dynamic", "fp16")
OBSERVERS = {"minmax": "MinMaxObserver"}


@dataclass(frozen=True)
class LiteRTQuantizeOptions:
    """LiteRT's own options. ``integer_io``: int8 model inputs and outputs (no float QUANTIZE/DEQUANTIZE at the
    edges), as integer-only accelerators need."""

    format: ClassVar[str] = "litert"
    flags: ClassVar[str] = "--int8-io"

    integer_io: bool = False


def check(options: QuantizeOptions) -> None:
    """Reject options the PT2E quantizer cannot honour instead of silently ignoring them."""
    if options.weight_only:
        raise UnsupportedError(f"--method {options.method} (weight-only) is not available for LiteRT",
                               "use --backend onnxruntime or openvino for it, or --method dynamic "
                               "(LiteRT's int8 weights)")
    if options.method not in METHODS:
        raise UnsupportedError(f"--method {options.method} is not available for LiteRT", f"use one of: {', '.join(METHODS)}")
    reject_onnxruntime_flags(options, "LiteRT", "drop it; LiteRT int8 kernels use int8 symmetric weights")
    if options.calibration not in OBSERVERS:
        raise UnsupportedError(f"--calibration {options.calibration} is not available for LiteRT",
                               f"use one of: {', '.join(OBSERVERS)}")
    if isinstance(options.advanced, LiteRTQuantizeOptions) and options.advanced.integer_io and options.method != "static":
        raise UnsupportedError("--int8-io needs full-integer quantization", "use --method static")


def options_from_flags(flags: dict[str, Any]) -> LiteRTQuantizeOptions | None:
    """``--int8-io`` -> the option group (None if it is not set)."""
    return LiteRTQuantizeOptions(integer_io=True) if flags.get("int8_io") else None


def _advanced(options: QuantizeOptions) -> LiteRTQuantizeOptions:
    return options.advanced if isinstance(options.advanced, LiteRTQuantizeOptions) else LiteRTQuantizeOptions()


def pt2e_quantizer(per_channel: bool, dynamic: bool, observer: str = "MinMaxObserver") -> Any:
    """litert-torch's PT2E quantizer with ``observer`` (a torchao observer class name) on static activations."""
    litert_torch_module()
    from litert_torch.quantize.pt2e_quantizer import (
        PT2EQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e import observer as observers

    config = get_symmetric_quantization_config(is_per_channel=per_channel, is_dynamic=dynamic)
    if not dynamic:
        ctr = getattr(observers, observer).with_args(eps=2**-12)
        act = dataclasses.replace(config.input_activation, observer_or_fake_quant_ctr=ctr)
        config = dataclasses.replace(config, input_activation=act, output_activation=act)
    return PT2EQuantizer().set_global(config)


def _export_for_calibration(model: torch.nn.Module, spec) -> tuple[torch.fx.GraphModule, bool]:  # noqa: ANN001
    """``torch.export`` with a dynamic batch (any calibration batch runs); batch 1 where that fails."""
    args = sample_args(spec, batch=2)
    try:
        dims = tuple({0: torch.export.Dim("batch", min=1, max=4096)} for _ in args)
        return torch.export.export(model, args, dynamic_shapes=dims).module(), True
    except Exception:  # noqa: BLE001 - fall back to a static batch; calibration then runs one sample at a time
        return torch.export.export(model, sample_args(spec, batch=1)).module(), False


SHARED_ACTIVATIONS = ("torch.nn.modules.activation.ReLU", "torch.nn.modules.activation.ReLU6")


def split_shared_activation_calls(graph: torch.fx.GraphModule) -> int:
    """Give every call of a reused activation module its own partition; returns how many calls were renamed.

    torchvision's ResNet blocks call one ``self.relu`` two or three times. litert-torch's annotators group nodes
    by module name, find a "ReLU partition with more than one output node", skip it (printing exactly that),
    and leave the residual ADD + ReLU in float: 16 DEQUANTIZE/QUANTIZE pairs in ResNet-50, so the model is not
    full-integer. Renaming each call in the ``nn_module_stack`` metadata (which only the annotators read)
    makes them separate partitions, and every ADD is quantized."""
    from collections import defaultdict

    calls: dict[str, list[torch.fx.Node]] = defaultdict(list)
    for node in graph.graph.nodes:
        stack = node.meta.get("nn_module_stack")
        if node.op != "call_function" or not stack:
            continue
        fqn, cls = list(stack.values())[-1]
        name = cls if isinstance(cls, str) else f"{cls.__module__}.{cls.__qualname__}"
        if name in SHARED_ACTIVATIONS:
            calls[fqn].append(node)
    renamed = 0
    for fqn, nodes in calls.items():
        if len(nodes) < 2:
            continue
        for i, node in enumerate(nodes):
            stack = dict(node.meta["nn_module_stack"])
            key = list(stack)[-1]
            stack[key] = (f"{fqn}.call{i}", stack[key][1])
            node.meta["nn_module_stack"] = stack
            renamed += 1
    return renamed


ADD_TARGETS = ("aten.add.Tensor",)


def tag_bare_adds(graph: torch.fx.GraphModule) -> int:
    """Give every tensor ``add`` without a source record one (``operator.add``); returns how many were tagged.

    litert-torch's ADD annotator finds adds through ``get_source_partitions``, which reads each node's
    ``source_fn_stack``. ``torch.export`` (non-strict) leaves that empty for a plain ``x + f(x)``, as in
    MobileNetV2's inverted residuals, so those ADDs stayed float: DEQUANTIZE -> ADD -> QUANTIZE, ten float
    islands, and ``--int8-io`` was not integer-only. Only this metadata changes; the graph is the same."""
    import operator

    tagged = 0
    for node in graph.graph.nodes:
        if node.op == "call_function" and str(node.target) in ADD_TARGETS and not node.meta.get("source_fn_stack"):
            if all(isinstance(a, torch.fx.Node) for a in node.args[:2]):  # tensor + tensor (the residual)
                node.meta["source_fn_stack"] = [(node.name, operator.add)]
                tagged += 1
    return tagged


def calibrate(prepared: torch.fx.GraphModule, spec, feeds: list[dict[str, np.ndarray]], dynamic_batch: bool) -> int:  # noqa: ANN001
    """Run the observers over the calibration feeds; returns the number of samples seen."""
    names = [t.name for t in spec.inputs]
    total = sum(len(next(iter(f.values()))) for f in feeds)
    seen = 0
    with torch.no_grad(), progress_bar("calibrating", total=total) as bar:
        for feed in feeds:
            n = len(feed[names[0]])
            chunks = [slice(0, n)] if dynamic_batch else [slice(i, i + 1) for i in range(n)]
            for c in chunks:
                prepared(*(torch.from_numpy(np.ascontiguousarray(feed[k][c])) for k in names))
            seen += n
            bar.advance(n)
    return seen


def quantize_pt2e(source: Artifact, feeds: list[dict[str, np.ndarray]] | None, out_path: Path, *, dynamic: bool,
                  per_channel: bool = True, observer: str = "MinMaxObserver") -> dict[str, Any]:
    """PT2E-quantize the torch ``source`` and convert it to ``out_path``; returns what was done."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    spec = source.spec
    quantizer = pt2e_quantizer(per_channel, dynamic, observer)
    from litert_torch.quantize.quant_config import (
        QuantConfig,  # importable once pt2e_quantizer() imported litert_torch
    )

    model = source.model.eval()  # type: ignore[union-attr]
    try:
        graph, dynamic_batch = _export_for_calibration(model, spec)
    except Exception as e:  # noqa: BLE001 - torch.export raises many kinds
        err = conversion_error(e, f"LiteRT quantization of {spec.name}", Captured())
        raise QuantizationError(err.message, err.hint) from None
    split = split_shared_activation_calls(graph)
    adds = tag_bare_adds(graph)
    with silenced():  # annotators print skipped partitions ("Relu partition has ...")
        prepared = prepare_pt2e(graph, quantizer)
    if dynamic and not feeds:  # weight observers still need one forward pass
        feeds = [spec.example_inputs(1)]
    n = calibrate(prepared, spec, feeds or [], dynamic_batch)
    with silenced(ignore_warnings=True):
        converted = convert_pt2e(prepared, fold_quantize=False)
    for m in converted.modules():  # an exported GraphModule refuses .eval(); its BN ops are inference ops already
        m.training = False
    convert_to_tflite(converted, sample_args(spec, EXPORT_BATCH), out_path, f"LiteRT int8 conversion of {spec.name}",
                      QuantConfig(pt2e_quantizer=quantizer))
    return {"calibration_samples": n, "calibration_batch": "dynamic" if dynamic_batch else 1,
            "shared_activation_calls_split": split, "bare_adds_tagged": adds}


def _integer(source: Artifact, options: QuantizeOptions, calibration: Calibration | None, out_path: Path,
             integer_io: bool) -> dict[str, Any]:
    """Static or dynamic int8 into ``out_path`` (float I/O unless ``integer_io``); returns the lineage params."""
    dynamic = options.method == "dynamic"
    work = out_path.with_name(out_path.stem + ".int-io" + out_path.suffix)
    padded = out_path.with_name(out_path.stem + ".pad" + out_path.suffix)
    params: dict[str, Any] = {}
    try:
        params.update(quantize_pt2e(source, list(calibration or []), work, dynamic=dynamic,
                                    per_channel=options.per_channel, observer=OBSERVERS[options.calibration]))
        if not dynamic and (n := padv2_as_pad(work, padded)):
            padded.replace(work)
            params["rewrites"] = [f"{n} PADV2 padding with the zero point -> PAD (same values; Edge TPU documents PAD)"]
        graph = read_graph(work)
        if not integer_io and any(d in INTEGER_TYPES for d in (*graph.input_dtypes, *graph.output_dtypes)):
            params["interface"] = float_interface(work, out_path)
        else:
            work.replace(out_path)
    finally:
        work.unlink(missing_ok=True)
        padded.unlink(missing_ok=True)
    params.update(quantizer="litert-torch PT2EQuantizer (symmetric)",
                  weights=f"int8 symmetric {'per-channel' if options.per_channel else 'per-tensor'}",
                  activations="int8 computed per run (dynamic range)" if dynamic else "int8 per-tensor (static)")
    graph = read_graph(out_path)
    params["io"] = {"inputs": [d.lower() for d in graph.input_dtypes], "outputs": [d.lower() for d in graph.output_dtypes]}
    if not dynamic:
        params["calibration"] = f"{options.calibration} ({OBSERVERS[options.calibration]})"
        floats = {t.index for t in graph.float_activations()}
        params["full_integer"] = not floats
        if floats:  # what stayed float (the int8 annotators skipped these ops)
            params["float_ops"] = sorted({o.name for o in graph.ops if o.subgraph == 0 and floats & set(o.outputs)})
    return params


def quantize_litert(artifact: Artifact, options: QuantizeOptions, calibration: Calibration | None,
                    out_path: Path) -> Artifact:
    """Quantize a LiteRT artifact (through the torch model it was exported from)."""
    check(options)
    source = artifact.source
    if source is not None and source.format is Format.KERAS:
        return _quantize_keras(artifact, source, options, calibration, Path(out_path))
    if source is None or source.format is not Format.TORCH:
        raise UnsupportedError(f"{artifact.path} has no torch source to quantize: LiteRT quantization runs PT2E on the "
                               "torch graph", "quantize from a torch model (zoo name, checkpoint or factory), not a .tflite file")
    start = time.perf_counter()
    out_path = Path(out_path)
    params: dict[str, Any] = {"backend": "litert-torch", "litert_torch": litert_torch_version(), "method": options.method,
                              "batch": EXPORT_BATCH}
    if options.method == "fp16":
        convert_to_tflite(source.model.eval(), sample_args(source.spec), out_path,  # type: ignore[union-attr]
                          f"LiteRT fp16 conversion of {source.spec.name}", fp16_quant_config())
        params.update(weights="float16", activations="float32 (CPU kernels dequantize fp16 weights at load)", io="float32")
    else:
        params.update(_integer(source, options, calibration, out_path, _advanced(options).integer_io))
    return quantized_file(artifact, out_path, params, options.precision, start)


def _quantize_keras(artifact: Artifact, source: Artifact, options: QuantizeOptions, calibration: Calibration | None,
                    out_path: Path) -> Artifact:
    """A LiteRT model made from a Keras/TensorFlow model: re-converted by ``tf.lite.TFLiteConverter`` with
    TensorFlow's own quantization (full int8 from the real calibration feeds, dynamic range, or fp16)."""
    from dlcompress.toolkit.loaders.keras_model import keras_to_tflite

    start = time.perf_counter()
    feeds = list(calibration or []) if options.method == "static" else None
    params: dict[str, Any] = {"backend": "tflite-converter", "method": options.method}
    params.update(keras_to_tflite(source, out_path, options.method, feeds, _advanced(options).integer_io))
    graph = read_graph(out_path)
    params["io"] = {"inputs": [d.lower() for d in graph.input_dtypes], "outputs": [d.lower() for d in graph.output_dtypes]}
    if options.method == "static":
        params["full_integer"] = not graph.float_activations()
    return quantized_file(artifact, out_path, params, options.precision, start)


QUANTIZERS.add("litert", quantize_litert)
OPTION_CHECKS["litert"] = check
ADVANCED_OPTIONS["litert"] = options_from_flags
