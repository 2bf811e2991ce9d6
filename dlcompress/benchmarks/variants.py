"""How each (backend, precision) variant is built through the normal pipeline, and the devices it can run on.

Building goes through the same exporters, validation and quantizers as ``dlcompress quantize``; a variant that
cannot be built becomes a report row with the reason, never a silent gap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dlcompress.toolkit.backends import BACKENDS
from dlcompress.toolkit.errors import UnsupportedError
from dlcompress.toolkit.runtimes import RuntimeOptions

PRECISIONS = ("fp32", "int8", "fp16")
DEVICES = ("cpu", "cuda", "edge")
TORCH = "torch"

# precision -> the quantize --method that produces it (fp32 is the exported model itself)
METHOD_FOR_PRECISION = {"int8": "static", "fp16": "fp16"}
# (backend, precision) pairs that have no implementation, with the reason
UNSUPPORTED = {
    ("torch", "fp16"): "fp16 on CPU has no native kernels in PyTorch eager (use a GPU, or onnxruntime/litert)",
    ("openvino", "fp16"): "OpenVINO on CPU runs fp16 IR weights in f32/bf16; compare the bf16 default instead",
    ("litert", "fp16"): "fp16 .tflite runs through float kernels on x86 (XNNPACK fp16 needs ARM); not measured",
}


@dataclass(frozen=True)
class DeviceSetup:
    """A device a variant runs on: the runtime options, or why it is skipped here."""

    name: str
    options: RuntimeOptions | None
    skip_reason: str | None = None
    label: str = ""


def device_setup(name: str, threads: int | None) -> DeviceSetup:
    """cpu: all cores (or ``threads``); edge: one pinned core; cuda: when a GPU is present."""
    if name == "cpu":
        opts = RuntimeOptions(threads)
        return DeviceSetup("cpu", opts, label=f"cpu ({opts.num_threads} threads)")
    if name == "edge":
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
        core = cores[-1]
        return DeviceSetup("edge", RuntimeOptions(1, affinity=(core,)),
                           label=f"edge stand-in: 1 thread pinned to core {core} (a phone big core proxy)")
    if name == "cuda":
        import torch

        if not torch.cuda.is_available():
            return DeviceSetup("cuda", None, "no CUDA device here (torch.cuda.is_available() is False)")
        return DeviceSetup("cuda", RuntimeOptions(threads, device="cuda"), label=f"cuda ({torch.cuda.get_device_name(0)})")
    raise UnsupportedError(f"unknown device {name!r}", f"use one of: {', '.join(DEVICES)}")


def runtime_for(backend: str, device: str) -> str | None:
    """The runtime name of ``backend`` (None when that backend cannot use the device)."""
    if backend == TORCH:
        return "torch"
    b = BACKENDS.get(backend)
    if device == "cuda" and backend != "onnxruntime":
        return None
    return b.runtime


def cuda_skip_reason(backend: str) -> str | None:
    if backend in (TORCH,):
        return None
    if backend == "onnxruntime":
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            return "onnxruntime has no CUDAExecutionProvider here (pip install onnxruntime-gpu)"
        return None
    return f"{backend} has no CUDA runtime in dlcompress"


def check_precisions(precisions: tuple[str, ...] | list[str]) -> None:
    """Every precision is one the harness builds, or one clear error (with the closest name)."""
    import difflib

    for p in precisions:
        if p not in PRECISIONS:
            close = difflib.get_close_matches(p, PRECISIONS, n=1)
            raise UnsupportedError(f"unknown precision {p!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
                                   f"use one of: {', '.join(PRECISIONS)}")


def check_backend(name: str) -> None:
    """A known backend whose packages are installed, or a clear error."""
    if name == TORCH:
        return
    BACKENDS.get(name).require()


def artifact_folder(root: Path, model: str, backend: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model)
    folder = root / "artifacts" / safe / backend
    folder.mkdir(parents=True, exist_ok=True)
    return folder
