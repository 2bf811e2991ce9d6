"""The public Python API (``dlcompress.quantize``, ``export``, ``bench``, ``prune``, ``distill``, ``run``,
``explain``, ``load_model``).

Each function takes the same request dataclass the CLI builds, or plain keywords that name any field of that
request or of one of its option groups, however deep::

    import dlcompress
    result = dlcompress.quantize("small_cnn", data="fashion-mnist", method="static", calib_samples=32, out="out")
    result.report.rows[1].metric

Keywords are matched to the request's fields first, then to the fields of its option groups (``method`` ->
``quantize.method``, ``weights`` -> ``model_options.weights``, ``calib_samples`` -> ``data.calib_samples``);
``data="photos"`` names the dataset; a name that fits no field is one :class:`DLCompressError` with the closest
match. The results are those of the commands: a report and the folder it was written to.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from dlcompress.benchmarks.report import Report
from dlcompress.recipes.bench_models import BenchRequest, bench_models
from dlcompress.recipes.common import DataOptions
from dlcompress.recipes.distill import DistillRequest
from dlcompress.recipes.distill import distill as _distill
from dlcompress.recipes.explain import ExplainRequest, ExplainResult, run_explain
from dlcompress.recipes.export import ExportRequest, ExportResult
from dlcompress.recipes.export import export as _export
from dlcompress.recipes.loading import load_model as _load_model
from dlcompress.recipes.pipeline import PipelineResult, TeacherOptions
from dlcompress.recipes.prune import PruneRequest
from dlcompress.recipes.prune import prune as _prune
from dlcompress.recipes.quantize import QuantizeRequest, QuantizeResult
from dlcompress.recipes.quantize import quantize as _quantize
from dlcompress.recipes.run import RunResult, resolve_recipe, run_recipe
from dlcompress.toolkit.artifact import Artifact
from dlcompress.toolkit.errors import DLCompressError
from dlcompress.toolkit.model_options import (
    ModelOptions,
    parse_named_shapes,
    parse_shape,
)
from dlcompress.toolkit.stages.prune import PruneOptions
from dlcompress.toolkit.stages.quantize import QuantizeOptions

R = TypeVar("R")


def quantize(model: str | QuantizeRequest = "resnet50", /, **fields: Any) -> QuantizeResult:
    """Export, quantize and report fp32 vs quantized, as ``dlcompress quantize`` does."""
    return _quantize(_request(QuantizeRequest, model, fields))


def export(model: str | ExportRequest, /, **fields: Any) -> ExportResult:
    """Export a model and validate it against torch, as ``dlcompress export`` does."""
    return _export(_request(ExportRequest, model, fields))


def bench(models: str | list[str] | BenchRequest, /, **fields: Any) -> tuple[Report, Path]:
    """Benchmark backends x precisions x devices x batches (``dlcompress bench --model``): report and folder."""
    if isinstance(models, BenchRequest):
        return bench_models(_request(BenchRequest, models, fields))
    names = tuple(m.strip() for m in models.split(",")) if isinstance(models, str) else tuple(models)
    for key in ("backends", "precisions", "devices"):
        if isinstance(fields.get(key), str):
            fields[key] = tuple(v.strip() for v in fields[key].split(","))
    return bench_models(_request(BenchRequest, BenchRequest(models=names), fields))


def prune(model: str | PruneRequest, /, **fields: Any) -> PipelineResult:
    """Prune (and optionally recover), measured before and after, as ``dlcompress prune`` does."""
    if isinstance(model, str):
        model = PruneRequest(model, PruneOptions(**_take(fields, PruneOptions)))
    return _prune(_request(PruneRequest, model, fields))


def distill(model: str | DistillRequest, /, **fields: Any) -> PipelineResult:
    """Distill a teacher into ``model``, as ``dlcompress distill`` does (``teacher=``, ``teacher_weights=``)."""
    if isinstance(model, str):
        teacher = TeacherOptions(fields.pop("teacher", None), fields.pop("teacher_weights", None))
        model = DistillRequest(model, teacher)
    return _distill(_request(DistillRequest, model, fields))


def explain(model: str | ExplainRequest, /, **fields: Any) -> ExplainResult:
    """Attributions (Grad-CAM, LIME, SHAP) of ``model`` and its compressed variants on the same inputs, and how
    far they drift, as ``dlcompress explain`` does (``compare=[files]``, ``methods=["lime", "shap"]``)."""
    for name in ("compare", "methods"):
        if isinstance(fields.get(name), str):
            fields[name] = tuple(x.strip() for x in fields[name].split(",") if x.strip())
        elif fields.get(name) is not None:
            fields[name] = tuple(fields[name])
    return run_explain(_request(ExplainRequest, model, fields))


def run(recipe: str | Path, /, sets: list[str] | tuple[str, ...] = (), out: str | Path | None = None,
        overwrite: bool = False) -> RunResult:
    """Run a recipe (a YAML file, or a shipped recipe's name) with ``--set``-style overrides, as
    ``dlcompress run`` does: one run per backend it names, one report comparing them, its gates checked."""
    return run_recipe(resolve_recipe(str(recipe), tuple(sets)), Path(out) if out is not None else None, overwrite)


def load_model(name: str, /, weights: str | None = None, input_shape: str | tuple[int, ...] | None = None,
               mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None,
               task: str | None = None, tokenizer: str | None = None) -> Artifact:
    """A torch (or ONNX) :class:`Artifact` for a zoo name, ``file.py:fn``, ``pkg.mod:fn``, ``.onnx`` file or Hugging
    Face folder (``task=`` overrides the folder's own; ``tokenizer=`` feeds an ONNX file's token inputs)."""
    named = parse_named_shapes(input_shape) if isinstance(input_shape, str) else None
    shape = None if named else (parse_shape(input_shape) if isinstance(input_shape, str) else input_shape)
    return _load_model(name, ModelOptions(weights=weights, input_shape=shape, mean=mean, std=std, task=task,
                                          input_shapes=named, tokenizer=tokenizer))


# ---------------------------------------------------------------------------------------------------------
# keywords -> request


def _request(cls: type[R], base: Any, fields: dict[str, Any]) -> R:
    """``base`` (a request, or the model name) with ``fields`` set wherever they fit in its option groups."""
    request = base if isinstance(base, cls) else cls(base)  # type: ignore[call-arg]
    for name, value in fields.items():
        if name == "input_shape" and isinstance(value, str) and "=" in value:  # input_ids=1,32 x=1,3,48,320
            name, value = "input_shapes", parse_named_shapes(value)
        request = _set(request, name, value)
        if name == "calib_samples" and isinstance(getattr(request, "quantize", None), QuantizeOptions):
            request = _set(request, "samples", value)  # as --calib-samples sets both (the quantizer caps at it)
    return request


def _set(obj: Any, name: str, value: Any) -> Any:
    path = next((p for p in _field_paths(obj) if p[-1] == name), None)
    if path is None:
        close = difflib.get_close_matches(name, [p[-1] for p in _field_paths(obj)], n=1)
        raise DLCompressError(f"{name!r} is not an option of {type(obj).__name__}"
                              + (f" (did you mean {close[0]!r}?)" if close else ""),
                              "see the fields of the request dataclass and its option groups")
    return _replace_at(obj, path, value)


def _field_paths(obj: Any, depth: int = 0) -> Iterator[list[str]]:
    """Every field path of a request, in lookup order: its own fields first, then each option group's (two
    levels deep), so a keyword names the nearest field of that name."""
    fields = dataclasses.fields(obj)
    for f in fields:
        yield [f.name]
    if depth >= 2:
        return
    for f in fields:
        child = getattr(obj, f.name)
        if dataclasses.is_dataclass(child) and not isinstance(child, type):
            for sub in _field_paths(child, depth + 1):
                yield [f.name, *sub]


def _replace_at(obj: Any, path: list[str], value: Any) -> Any:
    head, *rest = path
    if rest:
        return dataclasses.replace(obj, **{head: _replace_at(getattr(obj, head), rest, value)})
    return dataclasses.replace(obj, **{head: _coerce(getattr(obj, head), head, value)})


def _coerce(current: Any, name: str, value: Any) -> Any:
    """``data="photos"`` -> ``DataOptions("photos")``; ``out="dir"`` -> ``Path``; shapes from strings."""
    if isinstance(current, DataOptions) and (value is None or isinstance(value, str)):
        return dataclasses.replace(current, name=value)
    if name in ("out",) and isinstance(value, str):
        return Path(value)
    if name == "input_shape" and isinstance(value, str):
        return parse_shape(value)
    return value


def _take(fields: dict[str, Any], cls: type) -> dict[str, Any]:
    own = {f.name for f in dataclasses.fields(cls)}
    return {k: fields.pop(k) for k in list(fields) if k in own}
