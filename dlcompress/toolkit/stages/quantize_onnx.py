"""ONNX Runtime quantization: static int8 (QOperator U8S8 by default), dynamic int8, fp16.

Why QOperator is the default: ORT's QDQ form leaves many convs in fp32 after graph optimisation (ResNet-50:
33 of 53 Conv become QLinearConv, 20 stay fp32 behind run-time DequantizeLinear of their weights), so it is
barely faster than fp32; the QOperator form quantizes every conv (measured here: ResNet-50 43 ms fp32,
34 ms QDQ S8S8, 14 ms QOperator U8S8). U8S8 uses VPDPBUSD (AVX512-VNNI/AVX-VNNI); on x86 CPUs without VNNI
the u8*s8 pairwise sums can saturate, so weights are then reduced to 7 bits (``reduce_range``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from dlcompress.benchmarks.devices import cpu_info
from dlcompress.toolkit.artifact import Artifact, StageRecord
from dlcompress.toolkit.errors import QuantizationError
from dlcompress.toolkit.progress import progress_bar
from dlcompress.toolkit.stages.quantize import QUANTIZERS, CalibrationFeeds, QuantizeOptions


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


def preprocess(src: Path, dst: Path) -> str:
    """ORT's quantization pre-processing (shape inference + graph optimisation); returns what was done."""
    from onnxruntime.quantization import quant_pre_process

    try:
        with _quiet():
            quant_pre_process(str(src), str(dst), skip_symbolic_shape=False)
        return "quant_pre_process (symbolic shape inference, ORT basic optimisation)"
    except Exception as e:  # noqa: BLE001 - pre-processing is best effort
        shutil.copyfile(src, dst)
        return f"pre-processing skipped: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    loggers = [logging.getLogger(), logging.getLogger("onnxruntime")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def quantize_onnx(artifact: Artifact, options: QuantizeOptions, calibration: CalibrationFeeds | None, out_path: Path) -> Artifact:
    """Quantize an ONNX artifact with ONNX Runtime."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

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
            with _quiet():
                if options.method == "static":
                    feeds = list(calibration or [])
                    qformat = QuantFormat.QOperator if options.quant_format == "qoperator" else QuantFormat.QDQ
                    act = QuantType.QUInt8 if options.quant_format == "qoperator" else QuantType.QInt8
                    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                              "percentile": CalibrationMethod.Percentile}[options.calibration]
                    quantize_static(
                        str(pre), str(out_path), _reader(feeds), quant_format=qformat, per_channel=options.per_channel,
                        reduce_range=reduce_range, activation_type=act, weight_type=QuantType.QInt8,
                        calibrate_method=method,
                        extra_options={"CalibTensorRangeSymmetric": False},
                    )
                    params.update(quant_format=options.quant_format, calibration=options.calibration,
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
                    from onnxruntime.transformers.float16 import convert_float_to_float16

                    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
                    onnx.save(model, str(out_path))
                    params.update(weights="fp16", activations="fp16", io="fp32 (Cast at the edges)")
        except Exception as e:  # noqa: BLE001 - ORT raises many kinds
            out_path.unlink(missing_ok=True)
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise QuantizationError(f"ONNX Runtime {options.method} quantization failed: {type(e).__name__}: {first[:300]}",
                                    "try --quant-format qdq, --method dynamic, or --no-per-channel") from None
    before, after = artifact.size_bytes or 0, out_path.stat().st_size
    record = StageRecord(
        "quantize", params, {"size_bytes_before": before, "size_bytes_after": after,
                             "size_ratio": round(after / before, 4) if before else None},
        seconds=round(time.perf_counter() - start, 2),
    )
    return artifact.derive(record, path=out_path, precision=options.precision)


QUANTIZERS.add("onnx", quantize_onnx)
