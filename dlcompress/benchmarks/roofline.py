"""Roofline estimates for edge targets we cannot measure here: a lower bound on latency from the model's
MACs and weight bytes and each target's published peak compute and memory bandwidth.

latency >= max(2 * MACs / peak_ops, weight_bytes / bandwidth). Real latency is higher (activations, kernel
efficiency, data movement between ops), so these are labelled estimates, with the figures they come from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

BYTES_PER_PARAM = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}


@dataclass(frozen=True)
class EdgeTarget:
    """Published peak figures of one device. ``peak_gops`` per precision (None: not supported)."""

    name: str
    description: str
    peak_gops: dict[str, float | None]
    bandwidth_gbs: float
    on_chip_mb: float | None
    source: str
    derivation: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)


TARGETS: tuple[EdgeTarget, ...] = (
    EdgeTarget(
        "raspberry-pi-4", "Raspberry Pi 4 Model B: 4x Cortex-A72 @ 1.5 GHz, LPDDR4-3200 (32-bit)",
        {"fp32": 48.0, "fp16": None, "bf16": None, "int8": 96.0}, 12.8, None,
        "Raspberry Pi 4 Model B product brief (BCM2711, 4x Cortex-A72 1.5 GHz, LPDDR4-3200); Arm Cortex-A72 TRM",
        "fp32: 4 cores x 1.5 GHz x 8 FLOP/cycle (one 128-bit NEON FMA per cycle); int8: 2x fp32 via widening "
        "multiply-accumulate (Armv8.0 has no SDOT); bandwidth: 3200 MT/s x 4 bytes",
    ),
    EdgeTarget(
        "phone-big-core", "One big core of a recent phone SoC (Cortex-X3/X4 class @ 3.2 GHz), LPDDR5X",
        {"fp32": 102.4, "fp16": 204.8, "bf16": None, "int8": 409.6}, 68.3, None,
        "Arm Cortex-X4 Software Optimization Guide (4x 128-bit FP/ASIMD pipes); LPDDR5X-8533 64-bit bus",
        "fp32: 3.2 GHz x 4 pipes x 4 lanes x 2 FLOP; fp16: 8 lanes; int8: SDOT 16 MAC/pipe/cycle x 4 pipes x 2 "
        "OP; bandwidth: 8533 MT/s x 8 bytes (shared with the rest of the SoC)",
    ),
    EdgeTarget(
        "coral-edge-tpu", "Google Coral Edge TPU (USB accelerator): int8 systolic array, 8 MB on-chip SRAM",
        {"fp32": None, "fp16": None, "bf16": None, "int8": 4000.0}, 0.32, 8.0,
        "coral.ai USB Accelerator datasheet: 4 TOPS int8, 2 W; USB 3.0 (5 Gbps) host link",
        "int8 only (fully quantized TFLite compiled by edgetpu_compiler). Parameters that fit in 8 MB of SRAM are "
        "cached; larger models stream the rest over USB each inference (~0.32 GB/s effective)",
    ),
    EdgeTarget(
        "jetson-orin-nano", "NVIDIA Jetson Orin Nano 8GB (15 W mode): 1024 CUDA cores + 32 tensor cores @ 625 MHz",
        {"fp32": 1280.0, "fp16": 10000.0, "bf16": 10000.0, "int8": 20000.0}, 68.0, None,
        "NVIDIA Jetson Orin Nano Series datasheet: 40 TOPS int8 sparse (20 dense), 8 GB 128-bit LPDDR5 68 GB/s",
        "fp32: 1024 cores x 2 FLOP x 0.625 GHz; int8: 20 TOPS dense tensor-core; fp16: half the int8 rate",
    ),
)


def estimate(macs: int, params: int, precision: str, target: EdgeTarget) -> dict[str, object]:
    """Lower-bound latency of one inference on ``target`` (or why it cannot run that precision)."""
    peak = target.peak_gops.get(precision)
    if peak is None:
        return {"target": target.name, "precision": precision, "estimate_ms": None,
                "reason": f"{target.name} has no {precision} arithmetic"}
    compute_ms = 2.0 * macs / (peak * 1e9) * 1e3
    weight_bytes = params * BYTES_PER_PARAM.get(precision, 4)
    streamed = weight_bytes
    if target.on_chip_mb is not None:
        streamed = max(0.0, weight_bytes - target.on_chip_mb * 1e6)
    memory_ms = streamed / (target.bandwidth_gbs * 1e9) * 1e3
    bound = "compute" if compute_ms >= memory_ms else "memory"
    return {"target": target.name, "precision": precision, "estimate_ms": round(max(compute_ms, memory_ms), 3),
            "compute_ms": round(compute_ms, 3), "memory_ms": round(memory_ms, 3), "bound": bound,
            "weight_mb": round(weight_bytes / 1e6, 2), "kind": "roofline estimate (lower bound), not a measurement"}


def estimates_for(macs: int | None, params: int | None, precisions: list[str]) -> list[dict[str, object]]:
    """Estimates for every target and precision (empty when MACs or params are unknown)."""
    if not macs or not params:
        return []
    return [estimate(macs, params, p, t) for t in TARGETS for p in precisions]
