"""``dlcompress run RECIPE`` and ``dlcompress recipes list | show``: compression jobs kept as YAML files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcompress.commands.options import JsonOpt, OverwriteOpt, QuietOpt, out_console
from dlcompress.toolkit.progress import set_quiet


def register(app: typer.Typer) -> None:
    """Add ``dlcompress run`` and the ``dlcompress recipes`` group to ``app``."""
    app.command("run")(run)
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
