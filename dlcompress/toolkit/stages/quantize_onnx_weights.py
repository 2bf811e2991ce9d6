"""ONNX Runtime weight-only quantization (``--method int4`` / ``int8-weights``): ``MatMulNBits``.

The weights of MatMul layers with a constant weight are stored in 4 (or 8) bits in blocks of ``group_size``
values along the input features, one scale (and, asymmetric, one zero point) per block; ORT's ``MatMulNBits``
contrib op dequantizes them on the fly, activations stay float. What it takes:

- ``Gemm`` (how torch exports ``nn.Linear`` and GPT-2's ``Conv1D``: ``addmm``) is not quantized by ORT's
  ``MatMulNBitsQuantizer``, so each Gemm with a constant weight is first rewritten as ``MatMul`` + ``Add``
  (:func:`gemm_to_matmul`); weights computed by nodes from constants (a tied LM head: ``Transpose`` of the
  embedding table) are folded into initializers first, as for int8.
- The embedding tables (``Gather`` of a constant) and the LM head (a MatMul whose output is a graph output) stay
  8-bit by default (``embeddings``): the tables as ``GatherBlockQuantized`` (bits=8), the head as 8-bit
  ``MatMulNBits``; ``embeddings="int4"`` quantizes them like the rest, ``"float"`` leaves them alone.
- ``algorithm``: round-to-nearest (ORT's default quantizer) or ``hqq`` (half-quadratic, data-free, needs torch);
  ORT's GPTQ needs Intel Neural Compressor (``pip install neural-compressor``), AWQ and scale estimation are
  OpenVINO's (NNCF).
- ``accuracy_level`` 4 on every MatMulNBits: int8 compute inside the kernel (see :data:`ACCURACY_LEVEL`).
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from dlcompress.toolkit.artifact import Artifact, StageRecord
from dlcompress.toolkit.calibration import Calibration
from dlcompress.toolkit.errors import (
    QuantizationError,
    UnsupportedError,
    describe_failure,
)
from dlcompress.toolkit.progress import silenced
from dlcompress.toolkit.stages.quantize import (
    DEFAULT_GROUP,
    OPTION_CHECKS,
    WEIGHT_ONLY,
    QuantizeOptions,
    choose_group,
)

ACCURACY_LEVEL = 4
"""MatMulNBits' ``accuracy_level``: 4 = int8 compute (activations quantized per block inside the kernel). Level 0
(fp32 compute, the quantizer's default) dequantizes every weight at every call: GPT-2 124M, 2 AVX2 cores, one
token: 304 ms vs 97 ms fp32; level 4: 23 ms, same cosine to fp32 (0.974). At 128 tokens: 793 / 557 / 564 ms."""
MIN_FEATURES = 16
"""MatMulNBits' smallest block: layers with fewer input features stay float."""
SHAPE_OPS = frozenset({"Reshape", "Identity", "Squeeze", "Unsqueeze", "Flatten", "Add", "Cast"})
"""Ops between an LM head's MatMul and the graph output that keep it the head (bias, reshapes)."""


def check(options: QuantizeOptions) -> None:
    """Option checks of ORT's weight-only quantizer (model-dependent ones run in :func:`quantize_weights`)."""
    if not options.weight_only:
        return
    if options.ratio is not None:
        raise UnsupportedError("--ratio (mixed 4/8-bit layers by sensitivity) is an option of OpenVINO's weight "
                               "compression, not of ONNX Runtime's", "add --backend openvino, or drop --ratio")
    for a in options.algorithms:
        if a in ("awq", "scale-estimation"):
            raise UnsupportedError(f"--weight-algorithm {a} is OpenVINO's (NNCF), not ONNX Runtime's",
                                   "add --backend openvino, or use --weight-algorithm rtn or hqq")
        if a == "gptq":
            import importlib.util

            if importlib.util.find_spec("neural_compressor") is None:
                raise UnsupportedError("ONNX Runtime's GPTQ needs Intel Neural Compressor, which is not installed",
                                       "pip install neural-compressor, or use --backend openvino --weight-algorithm gptq")
    if len(options.algorithms) > 1:
        raise UnsupportedError(f"ONNX Runtime runs one weight algorithm, not {options.algorithm}",
                               "use --weight-algorithm rtn, hqq or gptq")
    if options.method == "int8-weights" and "hqq" in options.algorithms:
        raise UnsupportedError("ONNX Runtime's HQQ quantizes to 4 bits", "use --method int4, or --weight-algorithm rtn")


# ------------------------------------------------------------------------------------------- graph rewriting
def _attr(node: Any, name: str, default: Any) -> Any:
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def gemm_to_matmul(model: Any) -> int:
    """Rewrite, in place, each ``Gemm(A, B[, C])`` with an initializer ``B`` (alpha 1, no transA) as
    ``MatMul(A, B')`` (+ ``Add(C)``), ``B'`` = B transposed where ``transB``; returns how many."""
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    uses: dict[str, int] = {}
    for n in graph.node:
        for i in n.input:
            uses[i] = uses.get(i, 0) + 1
    nodes, done = [], 0
    for k, n in enumerate(graph.node):
        b = n.input[1] if n.op_type == "Gemm" and len(n.input) > 1 else ""
        if (not b or b not in inits or _attr(n, "transA", 0) or _attr(n, "alpha", 1.0) != 1.0
                or (len(n.input) > 2 and n.input[2] and _attr(n, "beta", 1.0) != 1.0)):
            nodes.append(n)
            continue
        name = n.name or f"gemm_{k}"
        weight = b
        if _attr(n, "transB", 0):
            array = numpy_helper.to_array(inits[b]).T.copy()
            weight = f"{b}_kn" if uses.get(b, 0) > 1 else b
            tensor = numpy_helper.from_array(array, weight)
            if weight == b:
                inits[b].CopyFrom(tensor)
            else:
                graph.initializer.append(tensor)
        has_bias = len(n.input) > 2 and bool(n.input[2])
        out = f"{n.output[0]}_matmul" if has_bias else n.output[0]
        nodes.append(helper.make_node("MatMul", [n.input[0], weight], [out], name=f"{name}_matmul"))
        if has_bias:
            nodes.append(helper.make_node("Add", [out, n.input[2]], [n.output[0]], name=f"{name}_bias"))
        done += 1
    del graph.node[:]
    graph.node.extend(nodes)
    return done


def _name_nodes(graph: Any) -> None:
    taken = {n.name for n in graph.node if n.name}
    for k, n in enumerate(graph.node):
        if not n.name:
            name = f"{n.op_type.lower()}_{k}"
            while name in taken:
                name += "_"
            n.name = name
            taken.add(name)


def weight_matmuls(graph: Any) -> dict[str, tuple[int, int]]:
    """MatMul node name -> (K input features, N outputs) of each MatMul with a 2-D initializer weight."""
    inits = {i.name: i for i in graph.initializer}
    found = {}
    for n in graph.node:
        if n.op_type == "MatMul" and len(n.input) > 1 and n.input[1] in inits:
            dims = [d for d in inits[n.input[1]].dims]
            if len(dims) >= 2 and all(d == 1 for d in dims[:-2]):
                found[n.name] = (int(dims[-2]), int(dims[-1]))
    return found


def embedding_gathers(graph: Any) -> dict[str, tuple[int, int]]:
    """Gather node name -> (rows, width) of each Gather along axis 0 of a 2-D float initializer table."""
    from onnx import TensorProto

    inits = {i.name: i for i in graph.initializer}
    found = {}
    for n in graph.node:
        t = inits.get(n.input[0]) if n.op_type == "Gather" and n.input else None
        if t is not None and len(t.dims) == 2 and t.data_type == TensorProto.FLOAT and _attr(n, "axis", 0) == 0:
            found[n.name] = (int(t.dims[0]), int(t.dims[1]))
    return found


def head_matmuls(graph: Any, matmuls: dict[str, tuple[int, int]]) -> list[str]:
    """The MatMuls among ``matmuls`` whose output reaches a graph output through :data:`SHAPE_OPS` only: the
    output projection (LM head, classifier)."""
    outputs = {o.name for o in graph.output}
    consumers: dict[str, list[Any]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def reaches(tensor: str, depth: int = 0) -> bool:
        if tensor in outputs:
            return True
        return depth < 6 and any(c.op_type in SHAPE_OPS and reaches(c.output[0], depth + 1)
                                 for c in consumers.get(tensor, []))

    return [n.name for n in graph.node if n.name in matmuls and reaches(n.output[0])]


def _block_for(k: int) -> int:
    """MatMulNBits' block size for one scale per output channel: K itself, which it takes as a power of two."""
    if k < MIN_FEATURES or k & (k - 1):
        raise UnsupportedError(f"per-channel int4 on ONNX Runtime needs input features that are a power of two, "
                               f"at least {MIN_FEATURES}; a layer has {k}",
                               f"use --group-size {_fit_block(k)}, or leave --group-size out")
    return k


def _fit_block(k: int) -> int:
    """The largest of 128, 64, 32, 16 that divides K; else 32 (MatMulNBits pads K's last block)."""
    return next((c for c in (DEFAULT_GROUP, 64, 32, 16) if k % c == 0), 32)


# ------------------------------------------------------------------------------------------- quantization
def _matmul_nbits(model: Any, bits: int, block: int, symmetric: bool, exclude: list[str], algorithm: str,
                  calibration: Calibration | None) -> Any:
    from onnxruntime.quantization import matmul_nbits_quantizer as mnq

    config = None
    if algorithm == "hqq":
        config = mnq.HQQWeightOnlyQuantConfig(block_size=block, bits=bits)
    elif algorithm == "gptq":
        from dlcompress.toolkit.stages.quantize_onnx import _reader

        config = mnq.GPTQWeightOnlyQuantConfig(calibration_data_reader=_reader(list(calibration or [])),
                                               block_size=block)
    quantizer = mnq.MatMulNBitsQuantizer(model, bits=bits, block_size=block, is_symmetric=symmetric,
                                         nodes_to_exclude=exclude, algo_config=config)
    quantizer.process()
    return quantizer.model.model


def set_accuracy_level(model: Any, level: int) -> None:
    """Give every ``MatMulNBits`` of the top-level graph ``accuracy_level`` = ``level`` (replacing one set)."""
    import onnx

    for n in model.graph.node:
        if n.op_type == "MatMulNBits":
            kept = [a for a in n.attribute if a.name != "accuracy_level"]
            del n.attribute[:]
            n.attribute.extend([*kept, onnx.helper.make_attribute("accuracy_level", level)])


def quantize_gather_8bit(model: Any, names: list[str], block: int, symmetric: bool) -> int:
    """Each named ``Gather`` of a float table as ``GatherBlockQuantized`` (bits 8): the table in uint8, one scale
    (and zero point) per ``block`` values of a row; ``block`` is cut to the row width. Returns the bytes saved."""
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    wanted = set(names)
    saved, nodes = 0, []
    for n in graph.node:
        if n.name not in wanted:
            nodes.append(n)
            continue
        table = numpy_helper.to_array(inits[n.input[0]]).astype(np.float32)
        rows, width = table.shape
        b = block if width % block == 0 else width
        blocks = table.reshape(rows, width // b, b)
        if symmetric:  # uint8 with a fixed zero point 128
            scale = np.abs(blocks).max(-1) / 127.0
            zero = np.full(scale.shape, 128, dtype=np.uint8)
        else:
            lo, hi = np.minimum(blocks.min(-1), 0), np.maximum(blocks.max(-1), 0)
            scale = (hi - lo) / 255.0
            zero = np.where(scale > 0, np.round(-lo / np.where(scale > 0, scale, 1)), 0).clip(0, 255).astype(np.uint8)
        safe = np.where(scale > 0, scale, 1.0)
        q = np.round(blocks / safe[..., None] + zero[..., None]).clip(0, 255).astype(np.uint8).reshape(rows, width)
        base = n.input[0]
        graph.initializer.extend([numpy_helper.from_array(q, f"{base}_Q8"),
                                  numpy_helper.from_array(scale.astype(np.float32), f"{base}_Q8_scales"),
                                  numpy_helper.from_array(zero, f"{base}_Q8_zero_points")])
        nodes.append(helper.make_node("GatherBlockQuantized", [f"{base}_Q8", n.input[1], f"{base}_Q8_scales",
                                                               f"{base}_Q8_zero_points"], list(n.output),
                                      name=f"{n.name}_Q8", domain="com.microsoft", gather_axis=0, quantize_axis=1,
                                      block_size=b, bits=8))
        saved += table.nbytes - q.nbytes - scale.nbytes * 2
    del graph.node[:]
    graph.node.extend(nodes)
    used = {i for n in graph.node for i in n.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return int(saved)


def quantize_weights(artifact: Artifact, options: QuantizeOptions, calibration: Calibration | None,
                     out_path: Path) -> Artifact:
    """Weight-only int4 / int8 of an ONNX artifact with ORT's ``MatMulNBits``."""
    import onnx

    from dlcompress.toolkit.stages.quantize_onnx import fold_constant_weights

    check(options)
    start = time.perf_counter()
    src = Path(artifact.path)  # type: ignore[arg-type]
    bits, symmetric = options.bits, bool(options.symmetric)
    algorithm = options.algorithms[0] if options.algorithms else "rtn"
    params: dict[str, Any] = {"backend": "onnxruntime", "method": options.method, "op": "MatMulNBits",
                              "weights": f"int{bits} {'symmetric' if symmetric else 'asymmetric'}",
                              "activations": "float between layers", "algorithm": algorithm}
    with tempfile.TemporaryDirectory(prefix="dlc-w-", dir=out_path.parent) as tmp:
        folded = fold_constant_weights(src, Path(tmp) / "folded.onnx")
        if folded:
            params["constant_weights"] = folded
        model = onnx.load(str(Path(tmp) / "folded.onnx" if folded else src))
    graph = model.graph
    _name_nodes(graph)
    gemms = gemm_to_matmul(model)
    if gemms:
        params["gemm_to_matmul"] = f"{gemms} Gemm with a constant weight rewritten as MatMul + Add"
    matmuls = weight_matmuls(graph)
    small = {name: k for name, (k, _) in matmuls.items() if k < MIN_FEATURES}
    matmuls = {name: km for name, km in matmuls.items() if name not in small}
    if small:
        params["kept_float"] = {name: f"{k} input features (fewer than {MIN_FEATURES})" for name, k in small.items()}
    if not matmuls:
        ops = sorted({n.op_type for n in graph.node} & {"Conv", "ConvTranspose", "LSTM", "GRU", "MatMul", "Gemm"})
        raise UnsupportedError(f"--method {options.method} quantizes the weights of MatMul/Gemm (Linear) layers; "
                               f"{artifact.spec.name} has none with a constant weight"
                               + (f" and at least {MIN_FEATURES} input features" if small else "")
                               + (f" (its compute ops: {', '.join(ops)})" if ops else ""),
                               "use --method static or dynamic: int8 of the convolutions")
    heads = head_matmuls(graph, matmuls) if options.embeddings != "int4" else []
    gathers = embedding_gathers(graph) if options.embeddings != "float" else {}
    body = {name: km for name, km in matmuls.items() if name not in heads}
    group, how = choose_group(options, {n: k for n, (k, _) in (body or matmuls).items()})
    per_channel = options.group_size == 0
    params.update(group_size=group if group is not None else "per channel" if per_channel else "per layer",
                  group_size_choice=how)
    effect: dict[str, Any] = {"weight_layers": len(matmuls)}
    try:
        with silenced("", "onnxruntime", "onnxruntime.quantization", ignore_warnings=True), _quiet_ort_logger():
            # one pass per block size (per channel: one per distinct K); the head (8 bits) after the body
            passes: dict[tuple[int, int], list[str]] = {}
            for name, (k, _) in matmuls.items():
                head = name in heads
                if head and options.embeddings == "float":
                    continue
                b = _head_block(k, group) if head else _block_for(k) if per_channel else group or _fit_block(k)
                passes.setdefault((8 if head else bits, b), []).append(name)
            for (pass_bits, block), names in passes.items():
                exclude = [n.name for n in model.graph.node if n.op_type == "MatMul" and n.name not in names]
                model = _matmul_nbits(model, pass_bits, block, symmetric, exclude,
                                      algorithm if pass_bits == bits else "rtn", calibration)
            set_accuracy_level(model, ACCURACY_LEVEL)
            gathered = 0
            if gathers:
                if options.embeddings == "int4":
                    model = _gather_4bit(model, list(gathers), group or DEFAULT_GROUP, symmetric, gathers)
                else:
                    gathered = quantize_gather_8bit(model, list(gathers), group or DEFAULT_GROUP, symmetric)
            onnx.save(model, str(out_path))
    except UnsupportedError:
        raise
    except Exception as e:  # noqa: BLE001 - ORT's quantizer raises many kinds
        out_path.unlink(missing_ok=True)
        raise QuantizationError(f"ONNX Runtime {options.method} (MatMulNBits) failed: {describe_failure(e)}",
                                "try --group-size 32 or --embeddings float") from None
    ops = [n.op_type for n in model.graph.node]
    nbits = {f"int{b}": sum(1 for n in model.graph.node if n.op_type == "MatMulNBits" and _attr(n, "bits", 4) == b)
             for b in (4, 8)}
    params["accuracy_level"] = f"{ACCURACY_LEVEL} (the kernel quantizes activations to int8 per block: int8 dot products)"
    params["embeddings_and_head"] = options.embeddings
    if heads:
        params["head"] = heads if options.embeddings == "float" else {h: "int8" for h in heads}
    if gathers:
        params["embedding_tables"] = {g: f"{options.embeddings} ({rows}x{width})" for g, (rows, width) in gathers.items()}
    before, after = artifact.size_bytes or 0, out_path.stat().st_size
    effect.update(matmul_nbits=nbits, gather_block_quantized=ops.count("GatherBlockQuantized"),
                  float_matmuls_with_weights=sum(1 for n in weight_matmuls(model.graph)),
                  size_bytes_before=before, size_bytes_after=after,
                  size_ratio=round(after / before, 4) if before else None)
    if gathers and options.embeddings == "int8":
        effect["embedding_bytes_saved"] = gathered
    record = StageRecord("quantize", params, effect, seconds=round(time.perf_counter() - start, 2))
    return artifact.derive(record, path=out_path, precision=options.precision)


def _head_block(k: int, group: int | None) -> int:
    """The head's block: the group where it divides K, else what fits K."""
    return group if group is not None and k % group == 0 else _fit_block(k)


def _gather_4bit(model: Any, names: list[str], block: int, symmetric: bool, tables: dict[str, tuple[int, int]]) -> Any:
    """Embedding tables in 4 bits with ORT's own ``GatherBlockQuantized`` quantizer (``embeddings="int4"``)."""
    from onnxruntime.quantization import matmul_nbits_quantizer as mnq

    width = min(w for _, w in tables.values())
    b = block if all(w % block == 0 for _, w in tables.values()) else _fit_block(width)
    exclude = [n.name for n in model.graph.node if n.op_type == "Gather" and n.name not in names]
    quantizer = mnq.MatMulNBitsQuantizer(model, bits=4, block_size=b, is_symmetric=symmetric, nodes_to_exclude=exclude,
                                         op_types_to_quantize=("Gather",), quant_axes=(("Gather", 1),))
    quantizer.process()
    return quantizer.model.model


class _quiet_ort_logger:
    """ORT's weight-only quantizer logs every node at INFO through the root handler it installs at import."""

    def __enter__(self) -> None:
        self._logger = logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")
        self._level = self._logger.level
        self._logger.setLevel(logging.WARNING)

    def __exit__(self, *exc: object) -> None:
        self._logger.setLevel(self._level)


WEIGHT_ONLY.add("onnx", quantize_weights)
OPTION_CHECKS["onnx"] = check
