"""``dlcompress run RECIPE``, ``dlcompress recipes list | show`` (compression jobs kept as YAML files) and
``dlcompress sensitivity`` (which layers int8 hurts: what accuracy-aware recipes keep in float)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcompress.commands.options import (
    CalibOpt,
    DataOpt,
    EvalOpt,
    JsonOpt,
    MeanOpt,
    ModelOpt,
    OverwriteOpt,
    QuietOpt,
    ShapeOpt,
    StdOpt,
    ThreadsOpt,
    WeightsOpt,
    model_options,
    out_console,
)
from dlcompress.toolkit.progress import set_quiet


def register(app: typer.Typer) -> None:
    """Add ``dlcompress run`` and the ``dlcompress recipes`` group to ``app``."""
    app.command("run")(run)
    app.command("sensitivity")(sensitivity)
    recipes = typer.Typer(help="The recipes shipped with dlcompress (dlcompress run NAME runs one).", no_args_is_help=True)
    recipes.command("list")(recipes_list)
    recipes.command("show")(recipes_show)
    app.add_typer(recipes, name="recipes")


def run(
    recipe: Annotated[str, typer.Argument(help="A recipe file (YAML), or a shipped recipe's name (dlcompress recipes list).")],
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a key: KEY=VALUE, e.g. data.name=photos, quantize.method=dynamic, steps[1].quantize.calibration=entropy, backends=[onnxruntime,openvino] (repeatable).")] = None,
    check: Annotated[bool, typer.Option("--check", help="Validate the recipe and print what it would run; run nothing.")] = False,
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: the recipe's out:, else dlcompress-out/<model>-run-<time>/).")] = None,
    overwrite: OverwriteOpt = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Run a recipe: its steps on its model, once per backend it names, compared in one report; its gates
    (max_drop, min_metric, min_speedup, max_size_mb) fail the run with exit code 3."""
    from dlcompress.recipes.recipe_file import dump_recipe
    from dlcompress.recipes.run import resolve_recipe, run_recipe

    set_quiet(quiet or as_json)
    loaded = resolve_recipe(recipe, tuple(set_ or ()))
    if check:
        steps = " -> ".join(loaded.requests[0].steps)
        out_console().print(f"{loaded.source}: valid. {loaded.requests[0].model}: {steps} on {', '.join(loaded.backends)}")
        out_console().print(dump_recipe(loaded.data), markup=False, highlight=False)
        return
    result = run_recipe(loaded, out, overwrite)
    if as_json:
        print(result.report.dumps())
        return
    result.report.render(out_console())
    out_console().print(f"wrote {result.out_dir}/ (report.json, report.md, report.html, recipe.yaml, "
                        f"{', '.join(b + '/' for b in loaded.backends)})")


def recipes_list(as_json: JsonOpt = False) -> None:
    """The shipped recipes, one line each."""
    import json

    from dlcompress.recipes.run import shipped_recipes

    found = shipped_recipes()
    if as_json:
        print(json.dumps(found, indent=2))
        return
    width = max(map(len, found))
    for name, about in found.items():
        out_console().print(f"{name:<{width}}  {about}", markup=False, highlight=False)


def recipes_show(name: Annotated[str, typer.Argument(help="A shipped recipe's name.")]) -> None:
    """Print a shipped recipe (copy it to a file, edit it, run it with dlcompress run FILE)."""
    from dlcompress.recipes.run import shipped_text

    print(shipped_text(name), end="")


def sensitivity(
    model: ModelOpt = "resnet18",
    weights: WeightsOpt = None,
    input_shape: ShapeOpt = None,
    mean: MeanOpt = None,
    std: StdOpt = None,
    data: DataOpt = None,
    calib_samples: CalibOpt = 32,
    eval_samples: EvalOpt = 256,
    max_layers: Annotated[Optional[int], typer.Option("--max-layers", min=1, help="Per-layer runs only for this many layers (those with the lowest activation SQNR); default: every layer.")] = None,
    per_layer: Annotated[bool, typer.Option("--per-layer/--sqnr-only", help="Quantize once per layer twice (kept float / only int8), or report SQNR and ranges only.")] = True,
    threads: ThreadsOpt = None,
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: dlcompress-out/<model>-sensitivity-<time>/).")] = None,
    overwrite: OverwriteOpt = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Which layers int8 hurts: per quantizable layer, the score when only it stays float and when only it is int8
    (task metric with labels, else agreement with fp32), its activation/weight SQNR and range; a table and a plot."""
    import json

    from dlcompress.recipes.common import DataOptions
    from dlcompress.recipes.sensitivity import SensitivityRequest, run_sensitivity
    from dlcompress.toolkit.stages.onnx_sensitivity import markdown

    set_quiet(quiet or as_json)
    request = SensitivityRequest(model, model_options(weights, input_shape, mean, std),
                                 DataOptions(data, calib_samples, eval_samples), per_layer, max_layers, threads, out,
                                 overwrite)
    found = run_sensitivity(request)
    if as_json:
        print(json.dumps(found.result.to_json(), indent=2))
        return
    out_console().print(markdown(found.result), markup=False, highlight=False)
    out_console().print(f"wrote {found.out_dir}/ (sensitivity.json, sensitivity.md, sensitivity.png, model.onnx)")
