"""What every real-model measurement shares: the row it produces, reading rows out of a dlcompress report, and
the markdown table ``benchmarks/real_models.py`` writes to ``docs/real-models.md``.

Each model has one module beside this one that defines ``NAME`` (short id), ``TITLE`` (what the model is),
``INSTALL`` (the pip line for its wheel), ``BROUGHT_AS`` (how a user hands it to dlcompress) and
``measure(work: Path, quick: bool = False) -> list[RealRow]``: fp32 and every method that applies, per backend,
measured in one run; ``quick`` uses fewer samples for the slow tests.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class RealRow:
    """One measured variant of a real model. ``metric`` is the task metric on real labelled data (its name in
    ``metric_name``, higher is better unless ``lower_is_better``); ``fidelity`` says how close the variant's
    outputs are to fp32's (e.g. "cosine 0.9911"); ``latency_ratio`` is the variant's p50 over fp32's on the same
    backend, measured in the same run."""

    model: str
    backend: str
    method: str
    size_mb: float | None
    latency_ratio: float | None
    p50_ms: float | None
    metric_name: str
    metric: float | None
    fidelity: str
    data: str
    lower_is_better: bool = False
    note: str = ""

    def drop(self, fp32: RealRow | None) -> float | None:
        """How much worse the metric is than fp32's on the same backend (positive = worse)."""
        if fp32 is None or fp32.metric is None or self.metric is None:
            return None
        return (self.metric - fp32.metric) if self.lower_is_better else (fp32.metric - self.metric)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def rows_from_report(report: Any, model: str, metric_name: str, data: str,
                     metrics: dict[str, float] | None = None, lower_is_better: bool = False,
                     out_dir: Path | None = None) -> list[RealRow]:
    """RealRows from a dlcompress report (``QuantizeResult.report``): size, p50 and ratio to the fp32 row of the
    same backend, the report's own metric (or ``metrics[row.path]`` when the task metric was computed outside the
    report, e.g. a CER on decoded text), and the report's fidelity. With ``out_dir`` (the job's folder) the method
    is read from its ``lineage.json`` ("int8 dynamic", "int8 static")."""
    methods = _methods(out_dir)
    rows = [r for r in report.rows if r.status not in ("failed", "skipped")]
    fp32_p50 = {}
    for r in rows:
        if r.precision == "fp32" and r.latency:
            fp32_p50.setdefault(r.runtime, r.latency.get("p50_ms"))
    out = []
    for r in rows:
        p50 = r.latency.get("p50_ms") if r.latency else None
        ref = fp32_p50.get(r.runtime)
        value = (metrics or {}).get(r.path or "", None)
        if value is None and r.metric:
            value = r.metric.get("value")
        out.append(RealRow(model=model, backend=r.runtime, method=methods.get(r.path or "", _method(r)), size_mb=_mb(r.size_bytes),
                           latency_ratio=(p50 / ref) if p50 and ref else None, p50_ms=p50,
                           metric_name=metric_name, metric=value, fidelity=_fidelity(r.fidelity), data=data,
                           lower_is_better=lower_is_better))
    return out


def _methods(out_dir: Path | None) -> dict[str, str]:
    """file name -> "int8 static" etc., from the quantize step of each file's lineage."""
    path = out_dir / "lineage.json" if out_dir else None
    if path is None or not path.is_file():
        return {}
    methods = {}
    for name, records in json.loads(path.read_text()).items():
        quant = [r for r in records if r.get("stage") == "quantize"]
        if quant:
            params = quant[-1].get("params", {})
            method = params.get("method", "")
            methods[name] = "fp16" if method == "fp16" else f"int8 {method}".strip()
    return methods


def _method(row: Any) -> str:
    return row.precision if row.precision == "fp32" else f"{row.precision} ({row.variant})"


def _mb(size: int | None) -> float | None:
    return None if size is None else size / 1e6


def _fidelity(f: dict[str, Any] | None) -> str:
    if not f:
        return ""
    return ", ".join(f"{k.replace('_', ' ')} {v:.4f}" for k, v in f.items()
                     if isinstance(v, float) and k not in _RAW_FIDELITY)


_RAW_FIDELITY = ("max_abs_diff", "mean_abs_diff", "reference_abs_max", "samples")


def needs(module: str, install: str) -> None:
    """Skip the calling test (with the install line) when the model's wheel is not installed."""
    import pytest

    if importlib.util.find_spec(module) is None:
        pytest.skip(f"needs the {module!r} wheel: {install}")


def cpu_name() -> str:
    """The CPU model as the report states it (figures depend on it)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def markdown_table(rows: list[RealRow]) -> str:
    """The rows of one model as a markdown table, with the metric drop against fp32 of the same backend."""
    fp32 = {(r.model, r.backend): r for r in rows if r.method == "fp32"}
    several = len({r.model for r in rows}) > 1
    lines = ["| backend | method | size MB | p50 ms | latency vs fp32 | metric | drop vs fp32 | fidelity to fp32 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        drop = r.drop(fp32.get((r.model, r.backend))) if r.method != "fp32" else None
        metric = "" if r.metric is None else f"{r.metric_name} {r.metric:.4f}"
        lines.append(f"| {r.model + ' · ' if several else ''}{r.backend} | {r.method} | {_num(r.size_mb, 2)} | {_num(r.p50_ms, 2)} | "
                     f"{'' if r.latency_ratio is None else f'{r.latency_ratio:.2f}x'} | {metric} | "
                     f"{'' if drop is None else f'{drop:+.4f}'} | {r.fidelity}{' · ' + r.note if r.note else ''} |")
    return "\n".join(lines)


def _num(v: float | None, digits: int) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def fidelity_value(row: RealRow, name: str) -> float | None:
    """One measure of ``row.fidelity`` by name ("cosine", "top1 agreement" ...), None when absent."""
    for part in row.fidelity.split(", "):
        key, _, value = part.rpartition(" ")
        if key == name:
            return float(value)
    return None


def lee_documents(word: str) -> list[list[str]]:
    """The Lee background corpus (300 news documents, gensim's test data; read without importing gensim), each as
    its words that fully match the regular expression ``word`` (the characters a recogniser knows)."""
    import re

    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the Lee corpus ships in gensim's wheel: pip install --no-deps gensim==4.4.0")
    path = Path(spec.submodule_search_locations[0]) / "test" / "test_data" / "lee_background.cor"
    pattern = re.compile(word)
    docs = []
    for line in path.read_text(encoding="latin-1").splitlines():
        words = [w for w in line.split() if pattern.fullmatch(w)]
        if words:
            docs.append(words)
    return docs


def runner(path: Path, runtime: str) -> Any:
    """A function x [N, ...] -> the first output, running the artifact at ``path`` (ONNX Runtime, OpenVINO at
    f32, or LiteRT) one item at a time."""
    import numpy as np

    if runtime == "openvino":
        import openvino as ov

        compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})

        def one(x: np.ndarray) -> np.ndarray:
            return np.asarray(compiled([x])[compiled.outputs[0]])
    elif runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter

        interp = Interpreter(model_path=str(path))
        interp.allocate_tensors()
        inp, outp = interp.get_input_details()[0], interp.get_output_details()[0]

        def one(x: np.ndarray) -> np.ndarray:
            interp.set_tensor(inp["index"], x)
            interp.invoke()
            return interp.get_tensor(outp["index"]).copy()
    else:
        import onnx
        import onnxruntime as ort

        from dlcompress.toolkit.loaders.onnx_file import stores_float16
        from dlcompress.toolkit.runtimes.onnxruntime_runtime import session_options

        # an fp16 file opens with the options dlcompress times it with (ORT_ENABLE_ALL segfaults on some)
        float16 = stores_float16(onnx.load(str(path), load_external_data=False))
        session = ort.InferenceSession(str(path), session_options(0, float16=float16), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name

        def one(x: np.ndarray) -> np.ndarray:
            return session.run(None, {name: x})[0]

    return lambda xs: np.concatenate([one(xs[i:i + 1]) for i in range(len(xs))])


def ctc_decode(scores: Any, chars: Any) -> list[str]:
    """Greedy CTC over scores [N, T, classes]: best class per step, repeats merged, blanks (class 0) dropped;
    ``chars[i]`` is class i's text."""
    import numpy as np

    out = []
    for best in scores.argmax(-1):
        keep = np.r_[True, best[1:] != best[:-1]] & (best != 0)
        out.append("".join(chars[i] for i in best[keep]))
    return out


def edit_distance(a: Any, b: Any) -> int:
    """Levenshtein distance of two sequences (characters of a string, or words of a list)."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def cer(predicted: list[str], truth: list[str]) -> float:
    """Character error rate: edit distance over the number of true characters."""
    return sum(edit_distance(p, t) for p, t in zip(predicted, truth)) / sum(len(t) for t in truth)
