"""Per-layer int8 sensitivity of a ResNet-18 and a MobileNetV2 trained here on real Fashion-MNIST (issue 11),
through the CLI, written to ``docs/sensitivity.md`` with each model's plot under ``docs/sensitivity/``.

1. ``dlcompress train --model M --data fashion-mnist`` (the zoo entry adapted to 1 channel, 10 classes).
2. ``dlcompress sensitivity --model M --weights CKPT --data fashion-mnist``: top-1 on labelled held-out images,
   for every quantizable layer the drop with only it kept float and with only it int8, activation and weight
   SQNR, activation range and tail.

    python benchmarks/sensitivity_trained.py                     # ~5 min on 2 cores
    python benchmarks/sensitivity_trained.py --work /tmp/sens --train-samples 3000 --epochs 1   # a quick look
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
MODELS = {"resnet18": "ResNet-18", "mobilenet_v2": "MobileNetV2"}


def cli(*args: object) -> None:
    """Run one dlcompress command in-process (its report goes to its --out folder, not to the terminal)."""
    import contextlib
    import io

    from dlcompress.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        code = main([str(a) for a in args])
    if code != 0:
        raise SystemExit(f"dlcompress {' '.join(map(str, args[:3]))} ... failed with exit code {code}")


def findings(result: dict) -> str:
    """What the table says, in words: the layer whose float recovers most, and the costliest layer alone."""
    layers = [la for la in result["layers"] if la.get("drop_kept_float") is not None]
    if not layers:
        return ""
    drop = result["int8_drop"]
    best = max(layers, key=lambda la: drop - la["drop_kept_float"])
    alone = max(layers, key=lambda la: la.get("drop_only_int8") or 0.0)
    name = lambda la: la.get("module") or la["node"]  # noqa: E731
    return (f"All int8: drop {drop:+.4f}. Keeping `{name(best)}` in float recovers the most "
            f"({drop - best['drop_kept_float']:+.4f}); `{name(alone)}` is the costliest layer on its own "
            f"({alone.get('drop_only_int8') or 0.0:+.4f} with every other layer float).")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/dlcompress-sensitivity"))
    p.add_argument("--train-samples", type=int, default=6000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--eval-samples", type=int, default=500)
    p.add_argument("--no-docs", action="store_true", help="do not write docs/sensitivity.md")
    args = p.parse_args()
    from dlcompress.toolkit.devices import cpu_info

    args.work.mkdir(parents=True, exist_ok=True)
    cpu = cpu_info()
    start = time.perf_counter()
    sections = []
    for model, title in MODELS.items():
        ckpt = args.work / f"{model}.pt"
        out = args.work / f"{model}-sensitivity"
        print(f"training {model} on {args.train_samples} Fashion-MNIST images, {args.epochs} epoch(s)", flush=True)
        cli("train", "--model", model, "--data", "fashion-mnist", "--epochs", args.epochs,
            "--train-samples", args.train_samples, "--out", ckpt, "--overwrite", "--quiet")
        print(f"per-layer sensitivity of {model}", flush=True)
        cli("sensitivity", "--model", model, "--weights", ckpt, "--data", "fashion-mnist",
            "--eval-samples", args.eval_samples, "--out", out, "--overwrite", "--quiet")
        result = json.loads((out / "sensitivity.json").read_text())
        table = (out / "sensitivity.md").read_text().split("\n", 2)[2].strip()  # less its title line
        plot = f"sensitivity/{model}.png"
        if not args.no_docs:
            (DOCS / "sensitivity").mkdir(exist_ok=True)
            shutil.copyfile(out / "sensitivity.png", DOCS / plot)
        print(f"  {findings(result)}", flush=True)
        sections.append(f"## {title} (trained here: {args.train_samples} images, {args.epochs} epoch(s))\n\n"
                        f"{findings(result)}\n\n{table}\n\n![{title} per-layer sensitivity]({plot})\n")
    minutes = (time.perf_counter() - start) / 60
    doc = ("# int8 sensitivity per layer: models trained on Fashion-MNIST\n\n"
           "Regenerate with `python benchmarks/sensitivity_trained.py`. Measured on "
           f"{cpu.model} ({cpu.cores} cores) in {minutes:.1f} min. Each model is trained with `dlcompress train`, "
           "then `dlcompress sensitivity` quantizes it (ONNX Runtime, static int8, QDQ, per-channel) once whole, "
           "once per layer with only that layer kept in float and once with only that layer in int8, and scores "
           f"each variant's top-1 on {args.eval_samples} labelled held-out test images. Positive drops are worse "
           "than float. The table lists the 15 layers whose float copy recovers the most; the plot has every "
           "layer in graph order (layers are named by the torch module they were exported from; a conv that "
           "BatchNorm was folded into carries the BatchNorm's name).\n\n" + "\n".join(sections))
    if not args.no_docs:
        (DOCS / "sensitivity.md").write_text(doc)
        print(f"wrote {DOCS / 'sensitivity.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
