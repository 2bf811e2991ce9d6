"""The machine a benchmark ran on: CPU model, the instruction sets that matter for int8/bf16, versions."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from dataclasses import asdict, dataclass
from functools import lru_cache

# /proc/cpuinfo flag -> what it means for inference
INT8_FLAGS = {
    "avx2": "AVX2",
    "avx512f": "AVX-512",
    "avx512_vnni": "AVX512-VNNI (int8 dot products)",
    "avx_vnni": "AVX-VNNI (int8 dot products)",
    "avx512_bf16": "AVX512-BF16",
    "amx_int8": "AMX-INT8",
    "amx_bf16": "AMX-BF16",
    "avx512_fp16": "AVX512-FP16",
    "f16c": "F16C (fp16 conversion only)",
}


@dataclass(frozen=True)
class CpuInfo:
    model: str
    machine: str
    cores: int
    flags: tuple[str, ...]

    @property
    def is_x86(self) -> bool:
        return self.machine in ("x86_64", "AMD64", "i686")

    @property
    def has_vnni(self) -> bool:
        return any(f in self.flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))

    @property
    def has_bf16(self) -> bool:
        return any(f in self.flags for f in ("avx512_bf16", "amx_bf16"))

    @property
    def has_native_fp16(self) -> bool:
        return "avx512_fp16" in self.flags or self.machine in ("aarch64", "arm64")

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d.update(vnni=self.has_vnni, bf16=self.has_bf16, native_fp16=self.has_native_fp16)
        return d


@lru_cache(maxsize=1)
def cpu_info() -> CpuInfo:
    model, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model in ("unknown", "", platform.machine()):
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        cores = os.cpu_count() or 1
    return CpuInfo(model, platform.machine(), cores, tuple(sorted(f for f in flags if f in INT8_FLAGS)))


PACKAGES = ("dlcompress", "torch", "torchvision", "onnx", "onnxruntime", "onnxscript", "numpy",
            "openvino", "nncf", "ai-edge-litert", "litert-torch", "torch-pruning")


def environment() -> dict[str, object]:
    """Everything a reader needs to judge the numbers: CPU, ISA flags, cores, library versions, GPU."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "cpu": cpu_info().to_json(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "gpu": gpu_name(),
    }


def gpu_name() -> str | None:
    try:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # noqa: BLE001
        return None
