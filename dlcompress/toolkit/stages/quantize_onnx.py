"""ONNX Runtime quantization: static int8 (QOperator U8S8 by default), dynamic int8, fp16.

Why QOperator is the default: ORT's QDQ form leaves many convs in fp32 after graph optimisation (ResNet-50:
33 of 53 Conv become QLinearConv, 20 stay fp32 behind run-time DequantizeLinear of their weights), so it is
barely faster than fp32; the QOperator form quantizes every conv (measured here: ResNet-50 43 ms fp32,
34 ms QDQ S8S8, 14 ms QOperator U8S8). U8S8 uses VPDPBUSD (AVX512-VNNI/AVX-VNNI); on x86 CPUs without VNNI
the u8*s8 pairwise sums can saturate, so weights are then reduced to 7 bits (``reduce_range``).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from dlcompress.toolkit.artifact import Artifact, StageRecord
from dlcompress.toolkit.calibration import Calibration
from dlcompress.toolkit.devices import cpu_info
from dlcompress.toolkit.errors import QuantizationError, describe_failure
from dlcompress.toolkit.progress import progress_bar, silenced
from dlcompress.toolkit.stages.quantize import QUANTIZERS, QuantizeOptions


def _reader(feeds: list[dict[str, np.ndarray]]):  # noqa: ANN202
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it: Iterator[dict[str, np.ndarray]] | None = None
            self._bar = progress_bar("calibrating", total=sum(len(next(iter(f.values()))) for f in feeds))

        def get_next(self) -> dict[str, np.ndarray] | None:
            if self._it is None:
                self._bar.__enter__()
                self._it = iter(feeds)
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


INT8_COMPUTE_OPS = ("QLinearConv", "QLinearMatMul", "QGemm", "ConvInteger", "MatMulInteger", "QAttention",
                    "DynamicQuantizeLSTM")
COMPUTE_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm", "LSTM", "GRU", "Attention")


def _op_types(path: Path) -> set[str]:
    """Op types of a model file, subgraphs (If/Loop bodies: where torchvision's NMS sits) included."""
    import onnx

    def walk(graph) -> set[str]:  # noqa: ANN001
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


def quantize_onnx(artifact: Artifact, options: QuantizeOptions, calibration: Calibration | None, out_path: Path) -> Artifact:
    """Quantize an ONNX artifact with ONNX Runtime."""
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
        params["preprocess"] = preprocess(src, pre) if options.method != "fp16" else "none"
        try:
            with silenced("", "onnxruntime"):
                if options.method == "static":
                    feeds = list(calibration or [])
                    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                              "percentile": CalibrationMethod.Percentile}[options.calibration]
                    # QOperator has no int8 form of some ops (ConvTranspose: GAN generators); when it quantizes
                    # no conv/matmul at all, QDQ at least stores int8 weights (ORT runs those ops in float)
                    formats = [options.quant_format] + (["qdq"] if options.quant_format == "qoperator" else [])
                    for fmt in formats:
                        act = QuantType.QUInt8 if fmt == "qoperator" else QuantType.QInt8
                        quantize_static(
                            str(pre), str(out_path), _reader(feeds),
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
                    quantize_dynamic(str(pre), str(out_path), per_channel=options.per_channel,
                                     reduce_range=reduce_range, weight_type=QuantType.QInt8)
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
