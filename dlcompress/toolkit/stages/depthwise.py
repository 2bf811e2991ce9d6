"""The depthwise stage: replace dense KxK convolutions by a depthwise KxK followed by a pointwise 1x1.

A dense conv with C inputs, M outputs and a KxK kernel costs H·W·K·K·C·M multiply-accumulates per image;
the MobileNet-style pair costs H·W·K·K·C (depthwise) + H·W·C·M (pointwise), about K·K times fewer when M is
large. The pair computes ``W_hat[m, c] = P[m, c] · D[c]``: one spatial kernel per input channel, mixed by
the pointwise weights. :data:`INITS` decides how the pair starts: ``svd`` (default) takes, for every input
channel c, the best rank-1 approximation of ``W[:, c]`` viewed as an M x (K·K) matrix (``u s vᵀ``: depthwise
kernel ``v·√s``, pointwise column ``u·√s``) — the closest member of this family to the original conv in the
Frobenius norm. What rank-1 cannot represent is lost; distillation recovers it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from dlcompress.toolkit.artifact import Artifact, StageRecord
from dlcompress.toolkit.complexity import count_macs, count_params
from dlcompress.toolkit.errors import DLCompressError
from dlcompress.toolkit.registry import Registry
from dlcompress.toolkit.scope import Scope
from dlcompress.toolkit.stages.structure import (
    STRUCTURE_EDITS,
    STRUCTURE_FORMAT,
    example_inputs,
    head_name,
    layer_table,
    torch_model,
)


class DepthwiseSeparableConv(nn.Module):
    """``pointwise(depthwise(x))``: a depthwise KxK conv (groups = C, no bias) and a 1x1 conv to M channels."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int], stride: tuple[int, int] = (1, 1),
                 padding: Any = 0, dilation: tuple[int, int] = (1, 1), bias: bool = False,
                 padding_mode: str = "zeros") -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size, stride, padding, dilation,
                                   groups=in_channels, bias=False, padding_mode=padding_mode)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))

    @classmethod
    def like(cls, conv: nn.Conv2d) -> DepthwiseSeparableConv:
        """An uninitialised pair with ``conv``'s channels, kernel, stride, padding and dilation."""
        return cls(conv.in_channels, conv.out_channels, tuple(conv.kernel_size), tuple(conv.stride),  # type: ignore[arg-type]
                   conv.padding if isinstance(conv.padding, str) else tuple(conv.padding), tuple(conv.dilation),  # type: ignore[arg-type]
                   conv.bias is not None, conv.padding_mode)

    def effective_weight(self) -> torch.Tensor:
        """The dense (M, C, K, K) kernel this pair computes."""
        d = self.depthwise.weight[:, 0]  # (C, K, K)
        p = self.pointwise.weight[:, :, 0, 0]  # (M, C)
        return p[:, :, None, None] * d[None]


def init_svd(pair: DepthwiseSeparableConv, conv: nn.Conv2d) -> None:
    """Per-input-channel rank-1 SVD of the original kernel (see the module docstring)."""
    w = conv.weight.detach().float()
    m, c, kh, kw = w.shape
    mats = w.permute(1, 0, 2, 3).reshape(c, m, kh * kw)  # (C, M, K*K)
    u, s, vh = torch.linalg.svd(mats, full_matrices=False)
    root = s[:, 0].clamp_min(0).sqrt()  # (C,)
    depth = (vh[:, 0, :] * root[:, None]).reshape(c, 1, kh, kw)
    point = (u[:, :, 0] * root[:, None]).T.reshape(m, c, 1, 1)
    with torch.no_grad():
        pair.depthwise.weight.copy_(depth)
        pair.pointwise.weight.copy_(point)
        if conv.bias is not None:
            pair.pointwise.bias.copy_(conv.bias)  # type: ignore[union-attr]


def init_random(pair: DepthwiseSeparableConv, conv: nn.Conv2d) -> None:
    """Keep PyTorch's default initialisation (a baseline to compare the SVD start against)."""


INITS: Registry[Callable[[DepthwiseSeparableConv, nn.Conv2d], None]] = Registry("depthwise initialisation")
INITS.add("svd", init_svd)
INITS.add("random", init_random)


@dataclass(frozen=True)
class DepthwiseOptions:
    """Which convolutions to replace.

    Eligible: ``nn.Conv2d`` with groups = 1 and a kernel larger than 1x1, not the classifier head, at least
    ``min_in_channels`` input channels (a depthwise conv over 1-3 image channels saves little and loses much).
    ``kernels`` narrows to those kernel sizes (e.g. ``(3,)``), ``scope`` to those layers, ``ignore`` excludes.
    """

    kernels: tuple[int, ...] = ()
    scope: Scope = field(default_factory=Scope)
    ignore: Scope = field(default_factory=Scope)
    init: str = "svd"
    min_in_channels: int = 8

    def __post_init__(self) -> None:
        INITS.get(self.init)
        if any(k < 2 for k in self.kernels):
            raise DLCompressError(f"--kernel sizes must be at least 2, got {list(self.kernels)}",
                                  "a 1x1 conv is already pointwise")
        if self.min_in_channels < 1:
            raise DLCompressError("--min-in-channels must be at least 1")

    def to_json(self) -> dict[str, Any]:
        return {"kernels": list(self.kernels), "scope": self.scope.strings(), "ignore": self.ignore.strings(),
                "init": self.init, "min_in_channels": self.min_in_channels}


def eligible(model: nn.Module, options: DepthwiseOptions, inputs: tuple[torch.Tensor, ...]) -> list[str]:
    """Names of the convolutions the options select, in definition order."""
    options.scope.validate(model)
    options.ignore.validate(model)
    head = head_name(model, inputs)
    chosen = {n for n, _ in options.scope.select(model)} if options.scope else None
    ignored = {sub for n, m in options.ignore.select(model) for sub, _ in m.named_modules(prefix=n)}
    names = []
    for name, m in model.named_modules():
        if type(m) is not nn.Conv2d or m.groups != 1 or max(m.kernel_size) < 2 or name == head:
            continue
        if m.in_channels < options.min_in_channels or name in ignored:
            continue
        if options.kernels and not all(k in options.kernels for k in m.kernel_size):
            continue
        if chosen is not None and name not in chosen:
            continue
        names.append(name)
    return names


def replace_depthwise(artifact: Artifact, options: DepthwiseOptions,
                      recalibrate: Callable[[nn.Module], dict[str, Any]] | None = None) -> Artifact:
    """A copy of a torch artifact with the selected convs replaced; per-layer and total MACs in the record.
    ``recalibrate`` (if given) re-estimates BatchNorm statistics of the new model on real data."""
    start = time.perf_counter()
    model = torch_model(artifact, "depthwise")
    inputs = example_inputs(artifact)
    names = eligible(model, options, inputs)
    if not names:
        raise DLCompressError(f"no convolution of {artifact.spec.name} matches (groups=1, kernel>1, "
                              f">= {options.min_in_channels} input channels, kernels {list(options.kernels) or 'any'})",
                              "check --kernel, --scope and --ignore")
    before = {r.name: r for r in layer_table(model, inputs)}
    params0, macs0 = count_params(model), count_macs(model, inputs)
    init = INITS.get(options.init)
    layers, edits = [], []
    for name in names:
        conv = model.get_submodule(name)
        pair = DepthwiseSeparableConv.like(conv)
        init(pair, conv)
        with torch.no_grad():
            err = float((pair.effective_weight() - conv.weight).norm() / conv.weight.norm().clamp_min(1e-12))
        _set_module(model, name, pair)
        b = before[name]
        hw = int(torch.tensor(b.out_hw).prod()) if b.out_hw else 1
        kk = conv.kernel_size[0] * conv.kernel_size[1]
        c, m = conv.in_channels, conv.out_channels
        after_macs = hw * kk * c + hw * c * m
        layers.append({
            "name": name, "kernel": list(conv.kernel_size), "in_channels": c, "out_channels": m,
            "out_hw": list(b.out_hw), "stride": list(conv.stride),
            "macs_before": b.macs, "macs_after": after_macs,  # H·W·K·K·C·M  vs  H·W·K·K·C + H·W·C·M
            "formula": f"{hw}·{kk}·{c}·{m} -> {hw}·{kk}·{c} + {hw}·{c}·{m}",
            "reduction": round(b.macs / after_macs, 3), "params_before": b.params,
            "params_after": sum(p.numel() for p in pair.parameters()), "init_relative_error": round(err, 4),
        })
        edits.append({"name": name, **_config(conv)})
    recalibration = recalibrate(model) if recalibrate is not None else None
    model.eval()
    after_table = layer_table(model, inputs)
    params1, macs1 = count_params(model), count_macs(model, inputs)
    conv_before = sum(r.macs for r in before.values() if r.type.startswith("Conv"))
    conv_after = sum(r.macs for r in after_table if r.type.startswith("Conv"))
    replaced_before = sum(x["macs_before"] for x in layers)
    replaced_after = sum(x["macs_after"] for x in layers)
    effect = {
        "replaced": len(layers), "params_before": params0, "params_after": params1,
        "params_ratio": round(params1 / params0, 4),
        "macs_before": macs0, "macs_after": macs1, "macs_ratio": round(macs1 / macs0, 4),
        "replaced_macs_before": replaced_before, "replaced_macs_after": replaced_after,
        "replaced_macs_reduction": round(replaced_before / replaced_after, 3),
        "conv_macs_before": conv_before, "conv_macs_after": conv_after,
        "conv_macs_reduction": round(conv_before / max(1, conv_after), 3),
        "layers": layers, "recalibration": recalibration,
        "structure": {"kind": "depthwise", "format": STRUCTURE_FORMAT, "layers": edits},
    }
    record = StageRecord("depthwise", options.to_json(), effect, seconds=round(time.perf_counter() - start, 2))
    return artifact.derive(record, model=model)


def _config(conv: nn.Conv2d) -> dict[str, Any]:
    return {"in_channels": conv.in_channels, "out_channels": conv.out_channels, "kernel_size": list(conv.kernel_size),
            "stride": list(conv.stride), "padding": conv.padding if isinstance(conv.padding, str) else list(conv.padding),
            "dilation": list(conv.dilation), "bias": conv.bias is not None, "padding_mode": conv.padding_mode}


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def replay_depthwise(model: nn.Module, plan: dict[str, Any], inputs: tuple[torch.Tensor, ...]) -> nn.Module:
    """Re-apply a recorded replacement plan to a fresh model (the weights are loaded afterwards)."""
    for layer in plan.get("layers", []):
        name = layer["name"]
        conv = model.get_submodule(name)
        if type(conv) is not nn.Conv2d or [conv.in_channels, conv.out_channels] != [layer["in_channels"], layer["out_channels"]]:
            raise DLCompressError(f"layer {name} is not the {layer['in_channels']}->{layer['out_channels']} conv the plan replaced")
        pad = layer["padding"] if isinstance(layer["padding"], str) else tuple(layer["padding"])
        _set_module(model, name, DepthwiseSeparableConv(
            layer["in_channels"], layer["out_channels"], tuple(layer["kernel_size"]), tuple(layer["stride"]), pad,
            tuple(layer["dilation"]), bool(layer["bias"]), layer["padding_mode"]))
    return model


STRUCTURE_EDITS.add("depthwise", replay_depthwise)
