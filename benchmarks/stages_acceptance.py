"""Acceptance numbers of the compression stages (issue 6), on real Fashion-MNIST, all through the CLI.

1. ``dlcompress train`` a ResNet-18 (adapted to 1x32x32, 10 classes).
2. ``dlcompress pipeline --steps prune,distill,export,quantize --target-macs 0.5``: the pruned model must keep
   <= 50% of the MACs, reach top-1 within 1.5 points of the unpruned model after distillation, and be faster
   than the unpruned model on the CPU in the same run (torch rows, interleaved timing).
3. ``dlcompress depthwise --kernel 3 --distill-epochs N``: conv MACs cut >= 5x, top-1 within 3 points after
   distillation.
4. ``dlcompress export`` of the unpruned model and ``dlcompress bench`` of unpruned vs pruned (fp32, int8) ONNX
   files: the deployment runtime's latency in one interleaved run.

    python benchmarks/stages_acceptance.py --work /tmp/accept            # ~15 min on 2 cores
    python benchmarks/stages_acceptance.py --train-samples 5000 --epochs 1 --distill-epochs 1   # a quick look

Prints the numbers and a PASS/FAIL line per criterion; writes ``summary.json`` into ``--work``.
Exit code 1 when a criterion fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def cli(*args: object) -> None:
    """Run one dlcompress command in-process (its report goes to its --out folder, not to the terminal)."""
    import contextlib
    import io

    from dlcompress.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        code = main([str(a) for a in args])
    if code != 0:
        raise SystemExit(f"dlcompress {' '.join(map(str, args[:3]))} ... failed with exit code {code}")


def rows(folder: Path) -> dict[str, dict]:
    report = json.loads((folder / "report.json").read_text())
    return {r["variant"]: r for r in report["rows"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("stages-acceptance"))
    p.add_argument("--train-samples", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=3, help="training epochs of the unpruned ResNet-18")
    p.add_argument("--distill-epochs", type=int, default=2, help="recovery epochs after pruning")
    p.add_argument("--depthwise-epochs", type=int, default=3, help="recovery epochs after depthwise replacement")
    p.add_argument("--eval-samples", type=int, default=0, help="held-out images (0 = the whole 10k test split)")
    p.add_argument("--bench-seconds", type=float, default=30.0)
    p.add_argument("--batch", type=int, default=1, help="batch size of the latency measurement")
    p.add_argument("--resume", action="store_true", help="reuse the steps whose output folder is complete")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for training and timing (default: all cores; 1 is steadier on a shared machine)")
    args = p.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}

    ckpt = work / "resnet18.pt"
    t0 = time.perf_counter()
    threads = ("--threads", args.threads) if args.threads else ()
    if not ckpt.exists():
        cli("train", "--model", "resnet18", "--data", "fashion-mnist", "--epochs", args.epochs,
            "--train-samples", args.train_samples, "--out", ckpt, *threads)
    times["train"] = time.perf_counter() - t0

    common = ("--weights", ckpt, "--data", "fashion-mnist", "--train-samples", args.train_samples,
              "--eval-samples", args.eval_samples, "--bench-seconds", args.bench_seconds, "--batch", args.batch,
              "--overwrite", *threads)
    t0 = time.perf_counter()
    pipe = work / "pipeline"
    if not (args.resume and (pipe / "report.json").exists()):
        cli("pipeline", "--model", "resnet18", "--steps", "prune,distill,export,quantize", "--target-macs", "0.5",
            "--round-to", "8", "--epochs", args.distill_epochs, *common, "--out", pipe, "--quiet", "--json")
    times["pipeline"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    dw = work / "depthwise"
    if not (args.resume and (dw / "report.json").exists()):
        cli("depthwise", "--model", "resnet18", "--kernel", "3", "--distill-epochs", args.depthwise_epochs, *common,
            "--out", dw, "--quiet", "--json")
    times["depthwise"] = time.perf_counter() - t0

    # the deployment runtime too: unpruned vs pruned+distilled (fp32, int8) ONNX files timed in one run
    t0 = time.perf_counter()
    unpruned = work / "unpruned.onnx"
    if not unpruned.exists():
        cli("export", "--model", "resnet18", "--weights", ckpt, "--data", "fashion-mnist", "--out", unpruned)
    import torch

    meta = torch.load(ckpt, map_location="cpu", weights_only=True)["dlcompress"]
    ort = work / "onnxruntime"
    cli("bench", unpruned, pipe / "model.onnx", pipe / "model.int8.onnx", "--data", "fashion-mnist",
        "--mean", ",".join(map(str, meta["mean"])), "--std", ",".join(map(str, meta["std"])),
        "--eval-samples", args.eval_samples, "--bench-seconds", args.bench_seconds, "--batch", args.batch,
        *threads, "--out", ort, "--overwrite", "--json")
    times["onnxruntime"] = time.perf_counter() - t0

    pr = rows(pipe)
    orig, pruned, dist, onnx, int8 = pr["original"], pr["prune"], pr["distill"], pr["onnx"], pr["int8"]
    dr = rows(dw)
    lineage = json.loads((dw / "lineage.json").read_text())
    dw_effect = next(r["effect"] for r in lineage["model.distill.pt"] if r["stage"] == "depthwise")

    orr = rows(ort)
    o_unpruned, o_pruned, o_int8 = orr["unpruned.onnx"], orr["model.onnx"], orr["model.int8.onnx"]

    def top1(r: dict) -> float:
        return r["metric"]["value"]

    summary = {
        "unpruned_top1": top1(orig), "eval_samples": orig["metric"]["samples"],
        "pruned_macs_ratio": round(pruned["macs"] / orig["macs"], 4),
        "pruned_params_ratio": round(pruned["params"] / orig["params"], 4),
        "pruned_top1_before_recovery": top1(pruned), "pruned_top1_after_distill": top1(dist),
        "pruned_top1_drop_points": round(100 * (top1(orig) - top1(dist)), 2),
        "torch_p50_ms": {"unpruned": orig["latency"]["p50_ms"], "pruned": pruned["latency"]["p50_ms"],
                         "distilled": dist["latency"]["p50_ms"]},
        "onnxruntime_p50_ms": {"pruned_fp32": onnx["latency"]["p50_ms"], "pruned_int8": int8["latency"]["p50_ms"]},
        "int8_top1": top1(int8), "latency_batch": args.batch,
        "onnxruntime_same_run": {
            "unpruned_fp32": {"p50_ms": o_unpruned["latency"]["p50_ms"], "top1": top1(o_unpruned)},
            "pruned_fp32": {"p50_ms": o_pruned["latency"]["p50_ms"], "top1": top1(o_pruned)},
            "pruned_int8": {"p50_ms": o_int8["latency"]["p50_ms"], "top1": top1(o_int8)},
        },
        "depthwise_replaced_layers": dw_effect["replaced"],
        "depthwise_replaced_macs_reduction": dw_effect["replaced_macs_reduction"],
        "depthwise_conv_macs_reduction": dw_effect["conv_macs_reduction"],
        "depthwise_model_macs_ratio": dw_effect["macs_ratio"],
        "depthwise_top1_before_recovery": top1(dr["depthwise"]), "depthwise_top1_after_distill": top1(dr["distill"]),
        "depthwise_top1_drop_points": round(100 * (top1(dr["original"]) - top1(dr["distill"])), 2),
        "depthwise_torch_p50_ms": {"original": dr["original"]["latency"]["p50_ms"],
                                   "distilled": dr["distill"]["latency"]["p50_ms"]},
        "seconds": {k: round(v, 1) for k, v in times.items()},
        "settings": vars(args) | {"work": str(work)},
    }
    checks = {
        "pruned to <= 50% of the MACs": summary["pruned_macs_ratio"] <= 0.5,
        "pruned+distilled top-1 within 1.5 points": summary["pruned_top1_drop_points"] <= 1.5,
        "pruned faster than unpruned (torch, same run)": dist["latency"]["p50_ms"] < orig["latency"]["p50_ms"],
        "pruned faster than unpruned (onnxruntime fp32, same run)":
            o_pruned["latency"]["p50_ms"] < o_unpruned["latency"]["p50_ms"],
        "depthwise conv MACs cut >= 5x": dw_effect["conv_macs_reduction"] >= 5,
        "depthwise+distilled top-1 within 3 points": summary["depthwise_top1_drop_points"] <= 3.0,
        "pipeline report has every step": list(pr) == ["original", "prune", "distill", "onnx", "int8"],
    }
    summary["checks"] = checks
    (work / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(json.dumps({k: v for k, v in summary.items() if k != "settings"}, indent=2, default=str))
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
