"""``dlcompress run RECIPE``: a recipe (a file, or a shipped recipe's name) run by the one step runner, once per
backend it names, with one report comparing them and its gates checked.

The output folder holds one job folder per backend (``onnxruntime/``, ``openvino/`` ..., each as its command
would write it), the comparison at the top (``report.json``, ``report.md``, ``report.html``, plots) and the
recipe as it ran (``recipe.yaml``, ``--set`` overrides applied), written atomically: a failure or Ctrl-C
leaves nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from dlcompress.benchmarks.gates import check_gates, unmeasured_gates
from dlcompress.benchmarks.report import Report, load_report
from dlcompress.recipes.merge import merge_reports, write_report_files
from dlcompress.recipes.pipeline import run_pipeline
from dlcompress.recipes.recipe_file import (
    Recipe,
    dump_recipe,
    load_recipe,
    parse_recipe,
)
from dlcompress.toolkit.errors import DLCompressError, GateError
from dlcompress.toolkit.outputs import atomic_dir, check_writable, default_out_dir
from dlcompress.toolkit.progress import step

SHIPPED = "dlcompress.recipes.shipped"


@dataclass(frozen=True)
class RunResult:
    report: Report
    out_dir: Path
    recipe: Recipe


def shipped_recipes() -> dict[str, str]:
    """Name -> first comment line (what it is for) of every recipe shipped with dlcompress."""
    found = {}
    for entry in sorted(resources.files(SHIPPED).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            first = next((ln for ln in entry.read_text(encoding="utf-8").splitlines() if ln.startswith("#")), "# ")
            found[entry.name[:-5]] = first.lstrip("# ").strip()
    return found


def shipped_text(name: str) -> str:
    """The YAML of a shipped recipe; one clear error naming the shipped ones otherwise."""
    names = shipped_recipes()
    if name not in names:
        import difflib

        close = difflib.get_close_matches(name, list(names), n=1)
        raise DLCompressError(f"no shipped recipe {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
                              f"shipped: {', '.join(names)}; or give a path to a YAML file")
    return (resources.files(SHIPPED) / f"{name}.yaml").read_text(encoding="utf-8")


def resolve_recipe(target: str, sets: list[str] | tuple[str, ...] = ()) -> Recipe:
    """A recipe from a file path, or from a shipped recipe's name, with ``--set`` overrides."""
    path = Path(target)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_recipe(path, sets)
    return parse_recipe(shipped_text(target), f"{target}.yaml", sets)


def run_recipe(recipe: Recipe, out: Path | None = None, overwrite: bool = False) -> RunResult:
    """Run every backend's request into one atomically written folder; raise GateError (after writing) when a
    gate fails on the model a backend's run delivers (its last step's)."""
    from dlcompress.toolkit.backends import BACKENDS

    first = recipe.requests[0]
    out = out or first.job.out or default_out_dir(f"{first.model.rsplit('/', 1)[-1].replace(':', '_')}-run")
    check_writable(out, overwrite)
    for backend in recipe.backends:
        BACKENDS.get(backend).require()
    with atomic_dir(out, overwrite) as folder:
        for i, (backend, request) in enumerate(zip(recipe.backends, recipe.requests)):
            step(f"backend {i + 1}/{len(recipe.backends)}: {backend}")
            job = dataclasses.replace(request.job, out=folder / backend, overwrite=False)
            run_pipeline(dataclasses.replace(request, job=job))
        report = merge_reports([folder / b for b in recipe.backends])
        report.command = "run"
        report.notes.append(f"recipe: {recipe.source} ({len(recipe.backends)} backend(s): {', '.join(recipe.backends)})")
        finals, start = [], 0  # the gates judge what each backend's run delivers: its last step's model
        for backend in recipe.backends:
            start += len(load_report(folder / backend).rows)
            finals.append(report.rows[start - 1])
        report.gates = check_gates(report, recipe.gates, finals)
        report.gates += unmeasured_gates(recipe.gates, report.gates)
        write_report_files(report, folder)
        (folder / "recipe.yaml").write_text(dump_recipe(recipe.data))
    failed = [g for g in report.gates if not g["passed"]]
    if failed:
        raise GateError(f"{len(failed)} gate(s) failed, e.g. {failed[0]['message']} (report written to {out})")
    return RunResult(report, out, recipe)
