"""ONNX Runtime quantization: static int8 (QOperator U8S8 by default), dynamic int8, fp16.

Why QOperator is the default: ORT's QDQ form leaves many convs in fp32 after graph optimisation (ResNet-50:
33 of 53 Conv become QLinearConv, 20 stay fp32 behind run-time DequantizeLinear of their weights), so it is
barely faster than fp32; the QOperator form quantizes every conv (measured here: ResNet-50 43 ms fp32,
34 ms QDQ S8S8, 14 ms QOperator U8S8). U8S8 uses VPDPBUSD (AVX512-VNNI/AVX-VNNI); on x86 CPUs without VNNI
the u8*s8 pairwise sums can saturate, so weights are then reduced to 7 bits (``reduce_range``).

ORT's quantizers read weights only from initializers ("Expected conv2d_394.w_0 to be an initializer"); graphs
whose weights are computed by nodes from constants (Paddle2ONNX exports every weight as a ``Constant`` node:
PP-OCR) get those weights folded into initializers first (:func:`fold_constant_weights`), said in the lineage.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from dlcompress.toolkit.artifact import Artifact, StageRecord
from dlcompress.toolkit.calibration import Calibration
from dlcompress.toolkit.devices import cpu_info
from dlcompress.toolkit.errors import QuantizationError, describe_failure
from dlcompress.toolkit.progress import progress_bar, silenced
from dlcompress.toolkit.stages.quantize import (
    QUANTIZERS,
    WEIGHT_ONLY,
    QuantizeOptions,
)


def symbolic_batch(path: Path) -> bool:
    """Whether every input of the ONNX file at ``path`` takes any batch length (a symbolic or unset first dim)."""
    import onnx

    inputs = onnx.load(str(path), load_external_data=False).graph.input
    return bool(inputs) and all(i.type.tensor_type.shape.dim and not i.type.tensor_type.shape.dim[0].dim_value
                                for i in inputs)


def single_items(feeds: list[dict[str, np.ndarray]]) -> Iterator[dict[str, np.ndarray]]:
    """Each batch's items one at a time (where every input has the same batch length): ORT's calibration
    session then holds one item's activations, not a batch's (ResNet-50, 64 photos: peak +530 MB at batch 1
    against +2.0 GB at batch 8, and no slower). MinMax and the histograms see the same values either way."""
    for feed in feeds:
        lengths = {len(v) if np.ndim(v) else 0 for v in feed.values()}
        if len(lengths) != 1 or lengths <= {0, 1}:
            yield feed
            continue
        for i in range(lengths.pop()):
            yield {k: v[i:i + 1] for k, v in feed.items()}


def _reader(feeds: list[dict[str, np.ndarray]], one_at_a_time: bool = False):
    """ORT's calibration reader over ``feeds`` with a progress bar; ``one_at_a_time`` feeds single items
    (:func:`single_items`; only for a model whose batch dim is symbolic)."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it: Iterator[dict[str, np.ndarray]] | None = None
            self._bar = progress_bar("calibrating", total=sum(len(next(iter(f.values()))) for f in feeds))

        def get_next(self) -> dict[str, np.ndarray] | None:
            if self._it is None:
                self._bar.__enter__()
                self._it = single_items(feeds) if one_at_a_time else iter(feeds)
            item = next(self._it, None)
            if item is None:
                self._bar.__exit__(None, None, None)
                return None
            self._bar.advance(len(next(iter(item.values()))))
            return item

        def rewind(self) -> None:
            self._it = None

    return Reader()


# Graphs with data-dependent shapes (detectors: NMS, NonZero) get no shape inference at all. Symbolic shape
# inference spends minutes failing on them (a tiny Faster R-CNN: 262 s, then "Incomplete symbolic shape
# inference"), and with ONNX shape inference in the file ORT's optimizer folds torchvision's box clipping into
# Reshape(shape=[0, -1]), which fails at run time on an image where a level has no candidate box ("Input
# shape:{0,2,2}, requested shape:{0,-1}"). ORT's own optimisation still runs (it removes the Identity nodes
# that shared heads export as, which the quantizer cannot read Conv biases through).
DATA_DEPENDENT_OPS = frozenset({"NonMaxSuppression", "NonZero", "Loop"})


def _has_data_dependent_shapes(path: Path) -> bool:
    return bool(DATA_DEPENDENT_OPS & _op_types(path))


def preprocess(src: Path, dst: Path) -> str:
    """ORT's quantization pre-processing (shape inference + graph optimisation); returns what was done.

    Symbolic shape inference is tried first, unless the graph has data-dependent shapes (see
    :data:`DATA_DEPENDENT_OPS`); the ORT optimisation step always runs.
    """
    from onnxruntime.quantization import quant_pre_process

    src, dst = src.resolve(), dst.resolve()  # it runs in dst's folder: a relative path would name nothing there
    # (symbolic, ONNX) shape inference, per attempt
    attempts = ((False, False),) if _has_data_dependent_shapes(src) else ((True, True), (False, True))
    failure = ""
    for symbolic, onnx_shapes in attempts:
        try:
            with silenced("", "onnxruntime"), _working_dir(dst.parent):
                quant_pre_process(str(src), str(dst), skip_symbolic_shape=not symbolic, skip_onnx_shape=not onnx_shapes)
            inference = ("symbolic shape inference" if symbolic else "ONNX shape inference" if onnx_shapes
                         else "no shape inference (data-dependent shapes)")
            return f"quant_pre_process ({inference}, ORT basic optimisation)"
        except Exception as e:  # noqa: BLE001 - pre-processing is best effort
            failure = describe_failure(e, 160)
    shutil.copyfile(src, dst)
    return f"pre-processing skipped: {failure}"


@contextlib.contextmanager
def _working_dir(folder: Path) -> Iterator[None]:
    """Run in ``folder``: when symbolic shape inference fails (BERT, GPT, Transformer attention), ORT dumps
    ``sym_shape_infer_temp.onnx`` and a ``<uuid>.data`` file with every weight into the current directory."""
    import os

    old = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


# Inputs of the ops ORT quantizes that it reads as weights (and biases) from initializers
WEIGHT_INPUTS: dict[str, tuple[int, ...]] = {
    "Conv": (1, 2), "ConvTranspose": (1, 2), "Gemm": (0, 1, 2), "MatMul": (0, 1), "Gather": (0,),
    "LSTM": (1, 2, 3), "GRU": (1, 2, 3), "RNN": (1, 2, 3), "Attention": (1, 2),
}
# Ops whose output is not a function of their inputs: never folded
NONDETERMINISTIC_OPS = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                                  "Multinomial", "Bernoulli", "Dropout"})


def _has_subgraph(node) -> bool:
    import onnx

    return any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)


def constant_weights(graph) -> list[str]:
    """Weight inputs of quantizable ops (:data:`WEIGHT_INPUTS`) that are not initializers but computed by nodes
    from constants only (``Constant`` nodes, or Cast/Transpose/... of initializers): what ORT cannot quantize."""
    inits = {i.name for i in graph.initializer}
    fed = {i.name for i in graph.input} - inits
    const = set(inits)
    for n in graph.node:  # a valid graph is topologically sorted
        if (n.domain in ("", "ai.onnx") and n.op_type not in NONDETERMINISTIC_OPS and not _has_subgraph(n)
                and all(not i or (i in const and i not in fed) for i in n.input)):
            const.update(o for o in n.output if o)
    weights: list[str] = []
    for n in graph.node:
        for k in WEIGHT_INPUTS.get(n.op_type, ()):
            name = n.input[k] if k < len(n.input) else ""
            if name and name in const and name not in inits and name not in weights:
                weights.append(name)
    return weights


def fold_constant_weights(src: Path, dst: Path) -> str | None:
    """Write ``src`` to ``dst`` with its :func:`constant_weights` as initializers (computed with ONNX's reference
    evaluator from the nodes that make them; those nodes, and any left unused, are removed). Returns what was
    done, or None (and writes nothing) when every weight already is an initializer."""
    import onnx
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    if not constant_weights(onnx.load(str(src), load_external_data=False).graph):
        return None
    model = onnx.load(str(src))
    graph = model.graph
    weights = constant_weights(graph)
    producer = {o: n for n in graph.node for o in n.output if o}
    # every output of the nodes that make a weight is folded (a node must not be left producing an initializer)
    made = {id(producer[w]): producer[w] for w in weights}
    targets = [o for n in made.values() for o in n.output if o]
    needed, stack, seen = [], [producer[t] for t in targets], set()
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        needed.append(n)
        stack.extend(producer[i] for i in n.input if i in producer)
    order = {id(n): k for k, n in enumerate(graph.node)}
    needed.sort(key=lambda n: order[id(n)])
    used = {i for n in needed for i in n.input}
    sub = helper.make_graph(needed, "constant_weights", [], [helper.make_empty_tensor_value_info(t) for t in targets],
                            initializer=[i for i in graph.initializer if i.name in used])
    evaluator = ReferenceEvaluator(helper.make_model(sub, opset_imports=model.opset_import, ir_version=model.ir_version))
    values = evaluator.run(targets, {})
    graph.initializer.extend(numpy_helper.from_array(np.asarray(v), t) for t, v in zip(targets, values))
    kept = [n for n in graph.node if id(n) not in made]
    removed = len(graph.node) - len(kept)
    kept, unused = _live_nodes(graph, kept)
    del graph.node[:]
    graph.node.extend(kept)
    ops = sorted({n.op_type for n in made.values()})
    onnx.save(model, str(dst))
    return (f"{len(weights)} weights computed by {', '.join(ops)} nodes folded into initializers "
            f"({removed + unused} nodes removed)")


def _live_nodes(graph, nodes: list) -> tuple[list, int]:
    """``nodes`` less those whose outputs nothing reads (graph outputs, other nodes, subgraphs); and how many."""
    def reads(node) -> set[str]:
        import onnx

        names = set(node.input)
        for a in node.attribute:
            for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                for inner in g.node:
                    names |= reads(inner)
        return names

    live = {o.name for o in graph.output}
    keep = []
    for n in reversed(nodes):
        if any(o in live for o in n.output if o):
            keep.append(n)
            live |= reads(n)
    keep.reverse()
    return keep, len(nodes) - len(keep)


# DequantizeLinear takes a per-channel ``axis`` from opset 13; ORT's QDQ quantizer writes one into an older graph
# anyway (Paddle2ONNX exports opset 12), which then fails to load ("Unrecognized attribute: axis")
QDQ_PER_CHANNEL_OPSET = 13


def _upgrade_opset(path: Path, opset: int) -> str | None:
    """Convert the file at ``path`` in place to ``opset`` when its default-domain opset is older; what was done."""
    import onnx
    from onnx import version_converter

    model = onnx.load(str(path))
    old = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), opset)
    if old >= opset:
        return None
    onnx.save(version_converter.convert_version(model, opset), str(path))
    return f"converted from opset {old} to {opset} (per-channel QDQ needs DequantizeLinear's axis)"


INT8_COMPUTE_OPS = ("QLinearConv", "QLinearMatMul", "QGemm", "ConvInteger", "MatMulInteger", "QAttention",
                    "DynamicQuantizeLSTM")
COMPUTE_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm", "LSTM", "GRU", "Attention")


def _op_types(path: Path) -> set[str]:
    """Op types of a model file, subgraphs (If/Loop bodies: where torchvision's NMS sits) included."""
    import onnx

    def walk(graph) -> set[str]:
        ops = set()
        for n in graph.node:
            ops.add(n.op_type)
            for a in n.attribute:
                for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                    ops |= walk(g)
        return ops

    return walk(onnx.load(str(path), load_external_data=False).graph)


def _strip_value_info(path: Path) -> None:
    """Drop the inferred intermediate shapes the quantizer stored (ORT re-infers what it needs)."""
    import onnx

    model = onnx.load(str(path))
    del model.graph.value_info[:]
    onnx.save(model, str(path))


def _quantizes_compute(path: Path) -> bool:
    """Whether any conv/matmul-like op runs in int8 (a lone QLinearConcat does not count)."""
    return any(op in INT8_COMPUTE_OPS for op in _op_types(path))


def _float_compute_ops(path: Path) -> list[str]:
    return sorted(set(COMPUTE_OPS) & _op_types(path))


# ONNX Runtime's transformer optimizer's fused ops, counted in the lineage
TRANSFORMER_FUSIONS = ("Attention", "SkipLayerNormalization", "EmbedLayerNormalization", "BiasGelu", "FastGelu")


def _fused_transformer(src: Path, dst: Path, transformer: dict[str, Any] | None) -> str | None:
    """Write ``src`` with ONNX Runtime's transformer fusions to ``dst``, and say which; ``transformer`` holds the
    optimizer's ``model_type``, ``num_heads`` and ``hidden_size`` (the Hugging Face loader's hint). None (nothing
    written) when there is no hint, attention does not fuse, or the optimizer fails. Dynamic int8
    of the fused graph quantizes attention as QAttention and the embeddings as QEmbedLayerNormalization: on
    MiniLM (6 layers, batch 1, 16 tokens, AMD EPYC AVX2) 0.56x fp32's latency against 0.65x unfused, the same
    cosine to fp32 (0.991)."""
    if not transformer:
        return None
    import collections

    import onnx

    try:
        from onnxruntime.transformers.optimizer import optimize_model

        with silenced("", "onnxruntime"):
            optimized = optimize_model(str(src), **transformer)
        ops = collections.Counter(n.op_type for n in optimized.model.graph.node)
        fused = {op: ops[op] for op in TRANSFORMER_FUSIONS if ops[op]}
        if "Attention" not in fused:
            return None
        onnx.save(optimized.model, str(dst))
    except Exception:  # noqa: BLE001 - the optimizer is best effort: the unfused graph is quantized instead
        return None
    return (f"ONNX Runtime transformer optimizer ({transformer['model_type']}): "
            + ", ".join(f"{n} {op}" for op, n in fused.items()))


def quantize_onnx(artifact: Artifact, options: QuantizeOptions, calibration: Calibration | None, out_path: Path) -> Artifact:
    """Quantize an ONNX artifact with ONNX Runtime (weight-only methods: :mod:`.quantize_onnx_weights`)."""
    if options.weight_only:  # registered by quantize_onnx_weights (which imports this module)
        return WEIGHT_ONLY.get("onnx")(artifact, options, calibration, out_path)
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    start = time.perf_counter()
    src = Path(artifact.path)  # type: ignore[arg-type]
    cpu = cpu_info()
    reduce_range = options.reduce_range
    if reduce_range is None:
        reduce_range = cpu.is_x86 and not cpu.has_vnni and options.method != "fp16"
    params: dict[str, object] = {"backend": "onnxruntime", "method": options.method}
    with tempfile.TemporaryDirectory(prefix="dlc-q-", dir=out_path.parent) as tmp:
        pre = Path(tmp) / "pre.onnx"
        try:
            folded = fold_constant_weights(src, Path(tmp) / "folded.onnx") if options.method != "fp16" else None
        except Exception as e:  # noqa: BLE001 - ORT's quantizer then names the weight it cannot read
            folded = None
            params["constant_weights"] = f"not folded: {describe_failure(e, 160)}"
        if folded:
            params["constant_weights"] = folded
        source = Path(tmp) / "folded.onnx" if folded else src
        params["preprocess"] = preprocess(source, pre) if options.method != "fp16" else "none"
        try:
            with silenced("", "onnxruntime"):
                if options.method == "static":
                    feeds = list(calibration or [])
                    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                              "percentile": CalibrationMethod.Percentile}[options.calibration]
                    # QOperator has no int8 form of some ops (ConvTranspose: GAN generators); when it quantizes
                    # no conv/matmul at all, QDQ at least stores int8 weights (ORT runs those ops in float)
                    formats = [options.quant_format] + (["qdq"] if options.quant_format == "qoperator" else [])
                    one_at_a_time = symbolic_batch(pre)  # read once: the QDQ retry has the same inputs
                    for fmt in formats:
                        act = QuantType.QUInt8 if fmt == "qoperator" else QuantType.QInt8
                        if fmt == "qdq" and options.per_channel:
                            upgraded = _upgrade_opset(pre, QDQ_PER_CHANNEL_OPSET)
                            if upgraded:
                                params["opset"] = upgraded
                        quantize_static(
                            str(pre), str(out_path), _reader(feeds, one_at_a_time),
                            quant_format=QuantFormat.QOperator if fmt == "qoperator" else QuantFormat.QDQ,
                            per_channel=options.per_channel, reduce_range=reduce_range, activation_type=act,
                            weight_type=QuantType.QInt8, calibrate_method=method,
                            op_types_to_quantize=list(artifact.spec.hint("onnxruntime", "op_types", ())) or None,
                            extra_options={"CalibTensorRangeSymmetric": False},
                        )
                        if fmt == "qdq" or _quantizes_compute(out_path):
                            break
                        params["fallback"] = ("QOperator quantized no compute op (ONNX Runtime has no QOperator form for "
                                              f"{', '.join(_float_compute_ops(out_path)) or 'these ops'}): used QDQ")
                    if artifact.spec.hint("onnxruntime", "op_types"):
                        params["op_types"] = list(artifact.spec.hint("onnxruntime", "op_types"))
                    params.update(quant_format=fmt, calibration=options.calibration,
                                  activations="uint8" if act == QuantType.QUInt8 else "int8", weights="int8",
                                  per_channel=options.per_channel, reduce_range=reduce_range,
                                  calibration_samples=sum(len(next(iter(f.values()))) for f in feeds))
                elif options.method == "dynamic":
                    import onnx

                    transformer = artifact.spec.hint("onnxruntime", "transformer")
                    fused = _fused_transformer(source, Path(tmp) / "fused.onnx", transformer)
                    if fused:
                        params["fused"] = fused
                    quantize_dynamic(str(Path(tmp) / "fused.onnx" if fused else pre), str(out_path),
                                     per_channel=options.per_channel, reduce_range=reduce_range,
                                     weight_type=QuantType.QInt8,
                                     # fused ops have no ONNX type inference: their outputs are float
                                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT} if fused else None)
                    params.update(weights="int8", activations="uint8 (computed per run)",
                                  per_channel=options.per_channel, reduce_range=reduce_range)
                else:
                    import onnx
                    from onnxruntime.transformers.float16 import (
                        convert_float_to_float16,
                    )

                    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
                    onnx.save(model, str(out_path))
                    params.update(weights="fp16", activations="fp16", io="fp32 (Cast at the edges)")
            if options.method != "fp16" and _has_data_dependent_shapes(src):
                _strip_value_info(out_path)
                params["value_info"] = "removed (see DATA_DEPENDENT_OPS)"
        except Exception as e:  # noqa: BLE001 - ORT raises many kinds
            out_path.unlink(missing_ok=True)
            raise QuantizationError(f"ONNX Runtime {options.method} quantization failed: {describe_failure(e)}",
                                    "try --quant-format qdq, --method dynamic, or --no-per-channel") from None
    before, after = artifact.size_bytes or 0, out_path.stat().st_size
    record = StageRecord(
        "quantize", params, {"size_bytes_before": before, "size_bytes_after": after,
                             "size_ratio": round(after / before, 4) if before else None},
        seconds=round(time.perf_counter() - start, 2),
    )
    return artifact.derive(record, path=out_path, precision=options.precision)


QUANTIZERS.add("onnx", quantize_onnx)
