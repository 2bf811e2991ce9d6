"""``dlcompress explain``: attribution maps (Grad-CAM, LIME, SHAP) of the fp32 model and of its compressed variants
on the same images, and how far they drift."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcompress.commands.options import (
    CalibOpt,
    DataOpt,
    JsonOpt,
    MeanOpt,
    OverwriteOpt,
    QuietOpt,
    ShapeOpt,
    StdOpt,
    ThreadsOpt,
    WeightsOpt,
    model_options,
    out_console,
    str_list,
)
from dlcompress.toolkit.progress import set_quiet


def register(app: typer.Typer) -> None:
    """Add ``dlcompress explain`` to ``app``."""
    app.command("explain")(explain)


def explain(
    model: Annotated[str, typer.Option("--model", "-m", help="The fp32 reference: zoo name, file.py:factory, package.module:factory or a .onnx file (Grad-CAM needs a torch model).")] = "small_cnn",
    weights: WeightsOpt = None,
    compare: Annotated[Optional[list[str]], typer.Option("--compare", help="A compressed variant to explain beside the reference (repeatable): a .onnx, OpenVINO .xml or .tflite file (run by its own runtime), a torch checkpoint of --model's architecture (.pt/.pth), or another model name. Default: the int8 ONNX Runtime model, built here.")] = None,
    int8: Annotated[Optional[bool], typer.Option("--int8/--no-int8", help="Also build and explain the int8 ONNX Runtime variant (default: only when no --compare is given).")] = None,
    methods: Annotated[Optional[str], typer.Option("--methods", help="Comma-separated: gradcam (torch models only), lime, shap. Default: all the reference can run.")] = None,
    data: DataOpt = None,
    images: Annotated[int, typer.Option("--images", min=1, help="Held-out test images to explain.")] = 8,
    samples: Annotated[int, typer.Option("--samples", min=10, help="Model runs per image for LIME (perturbed copies) and SHAP (evaluations).")] = 500,
    top_k: Annotated[float, typer.Option("--top-k", help="Share of the pixels whose overlap (IoU) is reported, e.g. 0.1 = the top 10%.")] = 0.1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of LIME's perturbations (the same for every model).")] = 0,
    calib_samples: CalibOpt = 64,
    input_shape: ShapeOpt = None,
    mean: MeanOpt = None,
    std: StdOpt = None,
    threads: ThreadsOpt = None,
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: dlcompress-out/<model>-explain-<time>/).")] = None,
    overwrite: OverwriteOpt = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Attributions of the fp32 model and of each compressed variant on the same images, and their drift: Spearman
    rank correlation and top-k% IoU of the maps, deletion and insertion AUC; report.json/md and gallery.html."""
    import json

    from dlcompress.recipes.common import DataOptions
    from dlcompress.recipes.explain import ExplainRequest, run_explain
    from dlcompress.toolkit.explain.gallery import markdown

    set_quiet(quiet or as_json)
    request = ExplainRequest(model, model_options(weights, input_shape, mean, std), tuple(compare or ()), int8,
                             tuple(str_list(methods)) if methods is not None else None,
                             DataOptions(data, calib_samples, images), images, samples, top_k, seed, threads, out,
                             overwrite)
    found = run_explain(request)
    if as_json:
        print(json.dumps(found.report, indent=2, default=str))
        return
    out_console().print(markdown(found.explanation), markup=False, highlight=False)
    out_console().print(f"wrote {found.out_dir}/ (report.json, report.md, gallery.html, gallery/)")
