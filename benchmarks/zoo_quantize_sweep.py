"""``dlcompress quantize --model NAME`` over the whole zoo (issue 3): every entry, its default data, default backend.

Each entry runs as its own subprocess (the real CLI, a fresh interpreter), so one entry's crash or leak cannot
touch the next. Prints one line per entry (status of the fp32 export, int8 method, size ratio, fidelity, the
data source used, seconds) and a summary; writes ``sweep.json`` into ``--work``. Exit code 1 when any entry
fails.

    python benchmarks/zoo_quantize_sweep.py                      # tiny variants, ~5-8 min on 2 cores
    python benchmarks/zoo_quantize_sweep.py --models 'resnet*'   # an fnmatch pattern over entry names
    python benchmarks/zoo_quantize_sweep.py --full               # real sizes (slow: ResNet-50 alone is ~1 min)
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUICK = ("--bench-seconds", "1", "--eval-samples", "8", "--calib-samples", "8")


def entries(pattern: str, full: bool) -> list[str]:
    from dlcompress.zoo import MODELS

    names = [n for n in MODELS.names() if (MODELS.get(n).card.tiny_of is None) == full]
    return [n for n in names if fnmatch.fnmatch(n, pattern)]


def fidelity_text(fid: dict | None) -> str:
    if not fid:
        return "-"
    keys = ("top1_agreement", "pixel_agreement", "box_f1", "cosine")
    return " ".join(f"{k.split('_')[0]}={fid[k]:.3f}" for k in keys if isinstance(fid.get(k), (int, float)))


def run_one(name: str, work: Path, timeout: float) -> dict:
    out = work / name
    cmd = [sys.executable, "-m", "dlcompress.cli", "quantize", "--model", name, *QUICK, "--json", "--quiet",
           "--out", str(out)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"model": name, "ok": False, "error": f"timed out after {timeout:.0f} s", "seconds": timeout}
    seconds = round(time.perf_counter() - t0, 1)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        return {"model": name, "ok": False, "error": (lines[-1] if lines else f"exit {proc.returncode}")[:300],
                "exit_code": proc.returncode, "seconds": seconds}
    report = json.loads(proc.stdout)
    fp32, int8 = report["rows"][0], report["rows"][-1]
    lineage = json.loads((out / "lineage.json").read_text())
    int8_file = next((k for k in lineage if ".int8." in k), None)
    method = lineage[int8_file][-1].get("params", {}) if int8_file else {}
    return {"model": name, "ok": fp32["status"] == "validated" and int8["status"] == "quantized",
            "fp32_status": fp32["status"], "int8_status": int8["status"], "data": report["data"]["name"],
            "size_ratio": round(int8["size_bytes"] / fp32["size_bytes"], 3) if fp32.get("size_bytes") else None,
            "quant_format": method.get("quant_format"), "fidelity": int8.get("fidelity"), "seconds": seconds}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="*", help="fnmatch pattern over entry names")
    ap.add_argument("--full", action="store_true", help="real-size entries instead of the tiny variants")
    ap.add_argument("--work", type=Path, default=None, help="folder for the outputs (default: a temp folder)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per entry")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="dlc-sweep-"))
    work.mkdir(parents=True, exist_ok=True)
    names = entries(args.models, args.full)
    if not names:
        print(f"no zoo entry matches {args.models!r}", file=sys.stderr)
        return 2
    results = []
    print(f"{'model':34} {'ok':4} {'data':14} {'int8/fp32':>9} {'format':8} {'fidelity':34} {'s':>6}")
    for name in names:
        r = run_one(name, work, args.timeout)
        results.append(r)
        if r["ok"]:
            print(f"{name:34} {'yes':4} {r['data']:14} {r['size_ratio'] or 0:9.3f} {r['quant_format'] or '-':8} "
                  f"{fidelity_text(r['fidelity']):34} {r['seconds']:6.1f}", flush=True)
        else:
            print(f"{name:34} {'NO':4} {r.get('error') or r.get('fp32_status')}  ({r['seconds']} s)", flush=True)
    failed = [r["model"] for r in results if not r["ok"]]
    total = sum(r["seconds"] for r in results)
    print(f"{len(results) - len(failed)}/{len(results)} entries quantized in {total / 60:.1f} min"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    (work / "sweep.json").write_text(json.dumps({"results": results, "failed": failed}, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
