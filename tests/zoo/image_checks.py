"""Checks shared by the zoo tests of image-input families (classifiers, detectors, GANs, metric, meta).

Export is checked through ``dlcompress export``'s own path (:func:`dlcompress.recipes.export.export`): the entry's
default data re-estimates BatchNorm statistics of the random-init model, then the ONNX file is validated
against torch on inputs generated from the signature and on real held-out data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dlcompress.zoo import MODELS, ModelSpec

MODULES = ("vision", "detection", "generative", "metric", "meta")


def module_entries(modules: tuple[str, ...], tiny: bool) -> list[str]:
    """Registered names whose builder lives in ``dlcompress.zoo.<module>``: tiny variants or real sizes."""
    def module_of(spec: ModelSpec) -> str:
        builder = getattr(spec.builder, "func", spec.builder)
        return builder.__module__.rsplit(".", 1)[-1]

    return [n for n in MODELS.names() if module_of(MODELS.get(n)) in modules
            and (MODELS.get(n).card.tiny_of is not None) == tiny and n != "small_cnn"]


def check_forward(spec: ModelSpec, model: torch.nn.Module | None = None, batch: int = 2) -> tuple[torch.Tensor, ...]:
    """A forward pass on inputs generated from the signature gives the declared outputs: names (count), dtypes,
    concrete dims, ``batch``; other symbolic dims (a detector's ``detections``) agree across outputs."""
    torch.manual_seed(0)
    model = (model or spec.build()).eval()
    batch = spec.fixed_batch or batch
    feeds = spec.example_inputs(batch, seed=1)
    with torch.no_grad():
        out = model(*(torch.from_numpy(feeds[t.name]) for t in spec.inputs))
    outs = out if isinstance(out, tuple) else (out,)
    assert len(outs) == len(spec.outputs), f"{spec.name}: {len(outs)} outputs, {len(spec.outputs)} declared"
    sizes: dict[str, int] = {"batch": batch}
    for t, o in zip(spec.outputs, outs):
        assert o.dim() == len(t.shape), f"{spec.name}.{t.name}: shape {tuple(o.shape)} vs {t.shape}"
        for d, n in zip(t.shape, o.shape):
            expected = sizes.setdefault(d, n) if isinstance(d, str) else d
            assert n == expected, f"{spec.name}.{t.name}: {tuple(o.shape)} vs {t.shape}"
        assert str(o.dtype).removeprefix("torch.") == t.dtype, f"{spec.name}.{t.name}: {o.dtype}"
        assert torch.isfinite(o.float()).all()
        if "batch" in t.shape and batch > 1 and o.is_floating_point():  # different inputs: not a constant output
            assert not torch.equal(o[0], o[1]), f"{spec.name}.{t.name} is the same for different inputs"
    return outs


def check_export(name: str, tmp_path: Path, route: str = "auto", eval_samples: int = 4):  # noqa: ANN201
    """``dlcompress export --model NAME`` (default data; ``route`` as ``--exporter``): the file validates."""
    import onnx

    from dlcompress.exporters import ExportOptions
    from dlcompress.recipes.common import DataOptions
    from dlcompress.recipes.export import ExportRequest, export

    spec = MODELS.get(name)
    result = export(ExportRequest(model=name, out=tmp_path / f"{name}.onnx", data=DataOptions(eval_samples=eval_samples),
                                  export=ExportOptions(route=route)))
    assert result.validation.passed, result.validation.problems
    assert result.validation.batches >= 2 + 1  # generated inputs and real data
    graph = onnx.load(str(tmp_path / f"{name}.onnx")).graph
    assert [o.name for o in graph.output] == [t.name for t in spec.outputs]
    assert all(np.isfinite(c.max_abs_diff) for c in result.validation.checks)
    return result
