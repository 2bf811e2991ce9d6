"""A compression job as a YAML file: read (with ``--set`` overrides), validated before any work with errors that
name the file, line and key, turned into the one step runner's requests, and written back (``--save-recipe``).

A recipe::

    model: resnet18                  # a zoo name, file.py:build, model.onnx, a Hugging Face or Keras folder
    weights: IMAGENET1K_V1           # optional, as --weights; also input_shape, mean, std, task, tokenizer
    data: {name: photos, calib_samples: 64, eval_samples: 256}
    steps:                           # run in order; a step alone, or with its options
      - prune: {ratio: 0.3}
      - export
      - quantize: {method: static, calibration: entropy}
    backends: [onnxruntime, openvino]   # one run per backend, compared in one report
    bench: {max_seconds: 10}
    gates: {max_drop: 0.01, min_speedup: 1.2}
    deliver: fastest                 # or quantized (as --deliver); bundle: true writes the mobile bundle

The options of a step are those of its command (``dlcompress quantize --help`` ...), with underscores:
``prune`` (+ ``finetune:`` training options), ``depthwise``, ``distill`` (+ ``train:``, ``teacher:``,
``teacher_weights:``, ``nproc:``), ``export``, ``quantize``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dlcompress.benchmarks.delivery import DELIVER_CHOICES
from dlcompress.benchmarks.gates import Gates
from dlcompress.benchmarks.harness import BenchOptions
from dlcompress.exporters import ExportOptions
from dlcompress.recipes.common import DataOptions
from dlcompress.recipes.pipeline import (
    JobOptions,
    PipelineRequest,
    StepOptions,
    TeacherOptions,
)
from dlcompress.recipes.recipe_schema import (
    Loc,
    RecipeError,
    build_options,
    format_loc,
    options_dict,
    plain,
)
from dlcompress.toolkit.errors import DLCompressError, InputShapeError
from dlcompress.toolkit.model_options import (
    ModelOptions,
    parse_named_shapes,
    parse_shape,
)
from dlcompress.toolkit.stages.depthwise import DepthwiseOptions
from dlcompress.toolkit.stages.distill import DistillOptions
from dlcompress.toolkit.stages.prune import PruneOptions
from dlcompress.toolkit.stages.quantize import QuantizeOptions
from dlcompress.toolkit.training import TrainOptions

TOP_KEYS = ("model", "weights", "input_shape", "mean", "std", "task", "tokenizer", "data", "steps", "backends",
            "device", "bench", "gates", "threads", "inference_precision", "deliver", "bundle", "out")
STEP_OPTIONS: dict[str, type] = {"prune": PruneOptions, "depthwise": DepthwiseOptions, "distill": DistillOptions,
                                 "export": ExportOptions, "quantize": QuantizeOptions}
STEP_EXTRAS: dict[str, dict[str, type | None]] = {
    "prune": {"finetune": TrainOptions},
    "distill": {"train": TrainOptions, "teacher": None, "teacher_weights": None, "nproc": None},
}
"""Keys a step takes besides its own options: option groups (a dataclass) or plain values (None)."""
STEP_BASES: dict[str, Any] = {"quantize": QuantizeOptions(method="auto")}
"""A step's defaults where they differ from its dataclass's: those of its command (``--method auto``)."""
RECIPE_BENCH = JobOptions().bench
"""A recipe's timing defaults: those of every compression command."""


@dataclass(frozen=True)
class Recipe:
    """A validated recipe: the step runner's request for each backend, with the gates and where it came from."""

    requests: tuple[PipelineRequest, ...]
    backends: tuple[str, ...]
    gates: Gates = field(default_factory=Gates)
    source: str = "<recipe>"
    data: dict[str, Any] = field(default_factory=dict)
    """The recipe as plain data (after ``--set``), as it is written back into the output folder."""


# ---------------------------------------------------------------------------------------------------------
# reading


def load_recipe(path: Path, sets: list[str] | tuple[str, ...] = ()) -> Recipe:
    """The recipe file at ``path`` with ``--set key=value`` overrides applied, validated; a one-line
    DLCompressError naming the file, line and key otherwise."""
    path = Path(path)
    if not path.is_file():
        raise DLCompressError(f"recipe {path} does not exist",
                              "give a YAML file, or a shipped recipe's name (dlcompress recipes list)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DLCompressError(f"recipe {path} cannot be read: {e}") from None
    return parse_recipe(text, path.name, sets)


def parse_recipe(text: str, source: str = "<recipe>", sets: list[str] | tuple[str, ...] = ()) -> Recipe:
    """A recipe from YAML text (``source`` names it in errors)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise DLCompressError(f"{where}: not valid YAML: {problem}", "check the indentation and the colons") from None
    for item in sets:
        data = apply_set(data, item)
    try:
        return from_data(data, source)
    except RecipeError as e:
        line = line_of(node, e.loc) if node is not None else None
        where = f"{source}:{line}" if line else source
        raise DLCompressError(f"{where}: {e.message}", e.hint) from None


def line_of(node: yaml.Node, loc: Loc) -> int | None:
    """The 1-based line of the deepest node of ``loc`` present in the YAML node tree."""
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == part), None)
            if match is None:
                key = next((k for k, _ in node.value if k.value == part), None)
                return key.start_mark.line + 1 if key is not None else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        elif isinstance(node, yaml.ScalarNode):
            return node.start_mark.line + 1
        else:
            return line
        line = node.start_mark.line + 1
    return line


_SET = re.compile(r"^(?P<path>[A-Za-z_][\w.\[\]]*)=(?P<value>.*)$", re.DOTALL)
_PART = re.compile(r"([A-Za-z_]\w*)|\[(\d+)\]")


def apply_set(data: Any, item: str) -> Any:
    """``--set steps[2].quantize.method=dynamic`` (or ``quantize.method=dynamic`` for the one quantize step,
    ``data.name=photos``, ``backends=[onnxruntime,openvino]``): the recipe data with that value (parsed as YAML)."""
    m = _SET.match(item.strip())
    if not m:
        raise DLCompressError(f"--set {item!r} is not KEY=VALUE", "e.g. --set data.name=photos or --set quantize.method=dynamic")
    path = _parse_path(m["path"], item)
    try:
        value = yaml.safe_load(m["value"]) if m["value"].strip() else None
    except yaml.YAMLError:
        value = m["value"]
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise DLCompressError("the recipe is not a mapping of keys (model:, steps: ...)", "see dlcompress recipes show NAME")
    if path[0] in STEP_OPTIONS and path[0] not in data:  # quantize.method -> the quantize step
        path = _step_path(data, path, item)
    node: Any = data
    for i, part in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise DLCompressError(f"--set {item!r}: {format_loc(tuple(path[:i + 1]))} does not exist in the recipe")
            if isinstance(node[part], str):  # a bare step name gets its options mapping
                node[part] = {node[part]: {}}
            elif isinstance(node[part], dict) and len(node[part]) == 1 and node[part].get(nxt, 0) is None:
                node[part][nxt] = {}
            node = node[part]
        else:
            if not isinstance(node, dict):
                raise DLCompressError(f"--set {item!r}: {format_loc(tuple(path[:i]))} is not a mapping")
            if node.get(part) is None:
                node[part] = [] if isinstance(nxt, int) else {}
            node = node[part]
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise DLCompressError(f"--set {item!r}: {format_loc(tuple(path))} does not exist in the recipe")
        node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise DLCompressError(f"--set {item!r}: {format_loc(tuple(path[:-1]))} is not a mapping")
    return data


def _parse_path(text: str, item: str) -> list[str | int]:
    parts: list[str | int] = []
    for piece in text.split("."):
        found = _PART.findall(piece)
        if not found or "".join(n or f"[{i}]" for n, i in found) != piece:
            raise DLCompressError(f"--set {item!r}: {text!r} is not a key path", "e.g. steps[2].quantize.method")
        parts += [n if n else int(i) for n, i in found]
    return parts


def _step_path(data: dict[str, Any], path: list[str | int], item: str) -> list[str | int]:
    steps = data.get("steps") if isinstance(data.get("steps"), list) else []
    hits = [i for i, s in enumerate(steps) if s == path[0] or (isinstance(s, dict) and path[0] in s)]
    if len(hits) != 1:
        raise DLCompressError(f"--set {item!r}: the recipe has {len(hits) or 'no'} {path[0]} step{'s' if hits else ''}",
                              f"name it by position, e.g. steps[{hits[0] if hits else 0}].{format_loc(tuple(path))}")
    return ["steps", hits[0], *path]


def from_data(data: Any, source: str = "<recipe>") -> Recipe:
    """A validated recipe from plain data (the YAML document)."""
    if not isinstance(data, dict):
        raise RecipeError((), "a recipe is a mapping of keys (model:, steps: ...)", "see dlcompress recipes show NAME")
    unknown = [k for k in data if k not in TOP_KEYS]
    if unknown:
        import difflib

        close = difflib.get_close_matches(str(unknown[0]), TOP_KEYS, n=1)
        raise RecipeError((str(unknown[0]),), "is not a known key",
                          f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(TOP_KEYS)}")
    model = data.get("model")
    if not isinstance(model, str) or not model.strip():
        raise RecipeError(("model",), "is required: a zoo name, file.py:build, a model file or folder"
                          if model is None else f"must be text, got {model!r}")
    model_options = ModelOptions(weights=_text(data, "weights"), **_shapes(data), mean=_floats(data, "mean"),
                                 std=_floats(data, "std"), task=_text(data, "task"), tokenizer=_text(data, "tokenizer"))
    data_options = build_options(DataOptions, _data_mapping(data.get("data")), ("data",))
    bench = build_options(BenchOptions, data.get("bench"), ("bench",), base=RECIPE_BENCH)
    gates = build_options(Gates, data.get("gates"), ("gates",))
    steps, options = _steps(data.get("steps"))
    backends = _backends(data.get("backends"))
    device = _text(data, "device") or "cpu"
    threads = data.get("threads")
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise RecipeError(("threads",), f"must be a whole number >= 1, got {threads!r}")
    out = Path(_text(data, "out")) if data.get("out") else None
    deliver = _text(data, "deliver") or "fastest"
    if deliver not in DELIVER_CHOICES:
        raise RecipeError(("deliver",), f"{deliver!r} is not one of {', '.join(DELIVER_CHOICES)}")
    bundle = data.get("bundle", False)
    if not isinstance(bundle, bool):
        raise RecipeError(("bundle",), f"must be true or false, got {bundle!r}")
    requests = []
    for backend in backends:
        step_options = dataclasses.replace(options, backend=backend, device=device)
        job = JobOptions(model_options, data_options, bench, threads, out, False, _text(data, "inference_precision"),
                         deliver, bundle)
        first_export = steps[0] == "export"
        labels = tuple("fp32" if s == "export" else (options.quantize.precision if s == "quantize" else s) for s in steps) \
            if first_export and len(set(steps)) == len(steps) else None
        requests.append(PipelineRequest(model.strip(), steps, step_options, job, command="run",
                                        measure_input=not first_export, labels=labels))
    from dlcompress.recipes.pipeline import check_steps

    try:
        check_steps(steps)
    except DLCompressError as e:
        raise RecipeError(("steps",), e.message, e.hint) from None
    return Recipe(tuple(requests), backends, gates, source, data)


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise RecipeError((key,), f"must be text, got {value!r}")
    return str(value)


def _floats(data: dict[str, Any], key: str) -> tuple[float, ...] | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    try:
        return tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise RecipeError((key,), f"must be a list of numbers (e.g. [0.485, 0.456, 0.406]), got {value!r}") from None


def _shapes(data: dict[str, Any]) -> dict[str, Any]:
    value = data.get("input_shape")
    if value is None:
        return {}
    text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    try:
        named = parse_named_shapes(text)
        return {"input_shapes": named} if named else {"input_shape": parse_shape(text)}
    except InputShapeError as e:
        raise RecipeError(("input_shape",), e.message, e.hint) from None


def _data_mapping(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


def _backends(value: Any) -> tuple[str, ...]:
    from dlcompress.toolkit.backends import BACKENDS

    if value is None:
        return ("onnxruntime",)
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise RecipeError(("backends",), f"must be a list of backends, got {value!r}", f"e.g. [{', '.join(BACKENDS.names())}]")
    for i, name in enumerate(items):
        if name not in BACKENDS:
            raise RecipeError(("backends", i), f"{name!r} is not one of {', '.join(BACKENDS.names())}")
    if len(set(items)) != len(items):
        raise RecipeError(("backends",), "names a backend twice")
    return tuple(items)


def _steps(value: Any) -> tuple[tuple[str, ...], StepOptions]:
    from dlcompress.recipes.pipeline import STEPS

    if not isinstance(value, list) or not value:
        raise RecipeError(("steps",), "must be a list of steps (e.g. [export, quantize])" if value is not None else
                          "is required: the steps to run, e.g. [export, quantize]")
    names: list[str] = []
    groups: dict[str, Any] = {}
    for i, item in enumerate(value):
        if isinstance(item, str):
            name, given = item, None
        elif isinstance(item, dict) and len(item) == 1:
            name, given = next(iter(item.items()))
        else:
            raise RecipeError(("steps", i), f"a step is a name or {{name: options}}, got {item!r}")
        if name not in STEPS:
            raise RecipeError(("steps", i), f"{name!r} is not one of {', '.join(STEPS.names())}")
        if given and name in groups:
            raise RecipeError(("steps", i, name), f"the {name} step appears twice with options",
                              "give the options once (every step of a kind shares them)")
        loc: Loc = ("steps", i, name)
        extras = STEP_EXTRAS.get(name, {})
        mapping = dict(given) if isinstance(given, dict) else given
        extra_values = {k: mapping.pop(k) for k in list(extras) if k in mapping} if isinstance(mapping, dict) else {}
        groups.setdefault(name, {})["options"] = build_options(STEP_OPTIONS[name], mapping, loc, STEP_BASES.get(name))
        for key, value_ in extra_values.items():
            cls = extras[key]
            groups[name][key] = build_options(cls, value_, (*loc, key)) if cls is not None else _plain_extra(key, value_, loc)
        names.append(name)
    return tuple(names), _step_options(groups)


def _plain_extra(key: str, value: Any, loc: Loc) -> Any:
    if key == "nproc":
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise RecipeError((*loc, key), f"must be a whole number >= 1, got {value!r}")
        return value
    if value is not None and not isinstance(value, str):
        raise RecipeError((*loc, key), f"must be text, got {value!r}")
    return value


def _step_options(groups: dict[str, dict[str, Any]]) -> StepOptions:
    kw: dict[str, Any] = {}
    if "prune" in groups:
        kw["prune"] = groups["prune"]["options"]
        kw["finetune"] = groups["prune"].get("finetune")
    if "depthwise" in groups:
        kw["depthwise"] = groups["depthwise"]["options"]
    if "distill" in groups:
        g = groups["distill"]
        kw["distill"] = g["options"]
        kw["train"] = g.get("train") or TrainOptions()
        kw["teacher"] = TeacherOptions(g.get("teacher"), g.get("teacher_weights"))
        kw["nproc"] = g.get("nproc") or 1
    if "export" in groups:
        kw["export"] = groups["export"]["options"]
    if "quantize" in groups:
        kw["quantize"] = groups["quantize"]["options"]
    else:
        kw["quantize"] = QuantizeOptions(method="auto")
    return StepOptions(**kw)


# ---------------------------------------------------------------------------------------------------------
# writing


def recipe_of(request: PipelineRequest, gates: Gates | None = None) -> dict[str, Any]:
    """The recipe (plain data) that reruns ``request`` (what ``--save-recipe`` writes): only what differs from
    the defaults."""
    job, opts = request.job, request.options
    mo = job.model_options
    out: dict[str, Any] = {"model": request.model}
    for key in ("weights", "task", "tokenizer"):
        if getattr(mo, key):
            out[key] = getattr(mo, key)
    if mo.input_shapes:
        out["input_shape"] = " ".join(f"{k}={','.join(map(str, v))}" for k, v in mo.input_shapes.items())
    elif mo.input_shape:
        out["input_shape"] = ",".join(map(str, mo.input_shape))
    for key in ("mean", "std"):
        if getattr(mo, key):
            out[key] = list(getattr(mo, key))
    data = options_dict(job.data)
    if data:
        out["data"] = data
    steps: list[Any] = []
    seen: set[str] = set()
    for name in request.steps:
        given = {} if name in seen else _step_dict(name, opts)
        seen.add(name)
        steps.append({name: given} if given else name)
    out["steps"] = steps
    out["backends"] = [opts.backend]
    if opts.device != "cpu":
        out["device"] = opts.device
    bench = {f.name: getattr(job.bench, f.name) for f in dataclasses.fields(job.bench)
             if getattr(job.bench, f.name) != getattr(RECIPE_BENCH, f.name)}
    if bench:
        out["bench"] = bench
    if gates is not None and options_dict(gates):
        out["gates"] = options_dict(gates)
    if job.threads:
        out["threads"] = job.threads
    if job.inference_precision:
        out["inference_precision"] = job.inference_precision
    if job.deliver != "fastest":
        out["deliver"] = job.deliver
    if job.bundle:
        out["bundle"] = True
    return out


def _step_dict(name: str, opts: StepOptions) -> dict[str, Any]:
    if name == "prune":
        given = options_dict(opts.prune) if opts.prune is not None else {}
        if opts.finetune is not None:
            given["finetune"] = options_dict(opts.finetune)
        return given
    if name == "distill":
        given = options_dict(opts.distill)
        if options_dict(opts.train):
            given["train"] = options_dict(opts.train)
        for key, value in (("teacher", opts.teacher.model), ("teacher_weights", opts.teacher.weights)):
            if value:
                given[key] = value
        if opts.nproc != 1:
            given["nproc"] = opts.nproc
        return given
    group = {"depthwise": opts.depthwise, "export": opts.export, "quantize": opts.quantize}[name]
    return options_dict(group, STEP_BASES.get(name))


def dump_recipe(data: dict[str, Any]) -> str:
    """A recipe as YAML, keys in the documented order, with a header saying how to run it."""
    body = yaml.safe_dump(plain(data), sort_keys=False, default_flow_style=None, width=110)
    return "# dlcompress recipe: run it with `dlcompress run THIS_FILE` (override keys with --set key=value)\n" + body


def save_recipe(request: PipelineRequest, path: Path, gates: Gates | None = None) -> Path:
    """Write the recipe of ``request`` to ``path`` (atomically) and return the path."""
    from dlcompress.toolkit.outputs import atomic_file

    path = Path(path)
    with atomic_file(path, overwrite=True) as tmp:
        tmp.write_text(dump_recipe(recipe_of(request, gates)))
    return path
