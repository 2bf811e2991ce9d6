"""Checks shared by the per-family zoo tests: signature, complexity (all families), ONNX export (non-image)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dlcompress.zoo import MODELS, ModelSpec


def family_entries(families: set[str], tiny: bool) -> list[str]:
    """Registered names of these families: the tiny variants, or the real sizes."""
    specs = [MODELS.get(n) for n in MODELS.names()]
    return [s.name for s in specs if s.card.family in families and (s.card.tiny_of is not None) == tiny]


def check_forward_matches_signature(spec: ModelSpec, batch: int = 2) -> None:
    """A forward pass on inputs generated from the declared signature gives the declared outputs and shapes."""
    torch.manual_seed(0)
    model = spec.build().eval()
    feeds = spec.example_inputs(batch, seed=1)
    assert list(feeds) == [t.name for t in spec.inputs]
    with torch.no_grad():
        out = model(*(torch.from_numpy(feeds[t.name]) for t in spec.inputs))
    outs = out if isinstance(out, tuple) else (out,)
    assert len(outs) == len(spec.outputs), f"{spec.name}: {len(outs)} outputs, {len(spec.outputs)} declared"
    for t, o in zip(spec.outputs, outs):
        assert tuple(o.shape) == t.concrete_shape(batch, **spec.dims), f"{spec.name}.{t.name}: {tuple(o.shape)}"
        assert str(o.dtype).removeprefix("torch.") == t.dtype
        assert torch.isfinite(o).all()


def check_complexity(name: str) -> tuple[int, int]:
    """Params and MACs computed from the real model (meta device) agree with a real CPU count."""
    from dlcompress.recipes.zoo import zoo_entry
    from dlcompress.toolkit.complexity import count_params

    entry = zoo_entry(name)
    assert entry.error is None, entry.error
    assert entry.params and entry.params > 0 and entry.macs and entry.macs > 0
    assert entry.params == count_params(MODELS.get(name).build())
    return entry.params, entry.macs


def check_onnx_export(name: str, tmp_path: Path) -> float:
    """Export with the default route and validate against torch on two batch sizes and, for each other symbolic
    dim, a second size (dynamic axes); returns the max abs diff."""
    from dlcompress.exporters import EXPORTERS, ExportOptions
    from dlcompress.exporters.validate import validate_outputs
    from dlcompress.recipes.loading import load_model
    from dlcompress.toolkit.runtimes import open_runtime

    art = load_model(name)
    spec = art.spec
    onnx_art = EXPORTERS.get("onnx").export(art, tmp_path / f"{name}.onnx", ExportOptions())
    import onnx

    model = onnx.load(str(onnx_art.path))
    assert [o.name for o in model.graph.output] == [t.name for t in spec.outputs]
    other = spec.replace(dims={k: v + 3 for k, v in spec.dims.items()})
    feeds = [spec.example_inputs(1, seed=1), spec.example_inputs(3, seed=2)] + ([other.example_inputs(2, seed=3)]
                                                                              if spec.dims else [])
    result = validate_outputs(open_runtime(art), open_runtime(onnx_art), feeds, spec.tolerance.atol, spec.tolerance.rtol)
    assert result.passed, result.problems
    assert all(np.isfinite(c.max_abs_diff) for c in result.checks)
    return float(result.max_abs_diff or 0.0)


def check_tiny_pairs(real: list[str], tiny: list[str], expected: list[str]) -> None:
    """The family's real entries are exactly ``expected`` and each has one tiny variant."""
    assert sorted(real) == sorted(expected)
    assert sorted(MODELS.get(n).card.tiny_of for n in tiny) == sorted(real)


def check_tiny_entry(name: str, tmp_path: Path) -> None:
    """A tiny entry: forward pass matches the signature, complexity is counted, the ONNX export validates."""
    spec = MODELS.get(name)
    check_forward_matches_signature(spec)
    check_complexity(name)
    assert check_onnx_export(name, tmp_path) < spec.tolerance.atol
