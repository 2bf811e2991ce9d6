"""PP-OCRv4 (the ``rapidocr-onnxruntime`` wheel's ONNX files): the text detector (DBNet, MobileNetV3 backbone)
and the text-line recogniser (SVTR-LCNet, CTC over 6625 characters), each brought as the ONNX file the wheel
ships, fp32 vs int8 (static, dynamic) and fp16 per backend.

Both files are Paddle2ONNX exports with every weight a ``Constant`` node, which ONNX Runtime's quantizer cannot
read ("Expected conv2d_394.w_0 to be an initializer"): dlcompress folds them into initializers first (the
lineage says so). Their inputs are symbolic (``x: [N, 3, H, W]``), sized with ``input_shape``.

Real labelled data, rendered here with Pillow in the DejaVu fonts from real English sentences (the Lee news
corpus in gensim's wheel: calibration lines from its first 150 documents, test lines from the other 150):
- recognition: text lines, H=48, W=320, BGR, ``(x/255 - 0.5)/0.5`` as PP-OCR feeds them; the character list is
  the ONNX file's own metadata (``character``); greedy CTC decoding computed here on each artifact; metric: CER
  against the rendered text (lower is better); fidelity: the share of lines decoded exactly as fp32 decodes them.
- detection: pages of text lines (640x640, BGR, ImageNet mean/std as PaddleOCR's det config); metric: IoU of the
  detected line boxes (regions of probability > 0.3, DB's binarisation threshold, grown by DB's unclip) with the
  ground-truth line boxes (pixel masks, all test pages together); fidelity: IoU of the text mask (probability >
  0.3) with fp32's on the same backend.
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.real_models.common import (
    RealRow,
    cer,
    ctc_decode,
    lee_documents,
    rows_from_report,
    runner,
)

NAME = "ppocr_v4"
TITLE = "PP-OCRv4 text detection (DBNet, 4.7 MB) and recognition (SVTR-LCNet CTC, 6625 classes, 10.9 MB), ONNX"
REC_TITLE = "PP-OCRv4 recognition (SVTR-LCNet, CTC over 6625 classes)"
DET_TITLE = "PP-OCRv4 detection (DBNet, MobileNetV3)"
INSTALL = "pip install --no-deps rapidocr-onnxruntime==1.4.4 && pip install --no-deps gensim==4.4.0"
BROUGHT_AS = ("the wheel's two ONNX files: `--model ch_PP-OCRv4_rec_infer.onnx --input-shape 1,3,48,320 "
              "--data lines.npz` and `--model ch_PP-OCRv4_det_infer.onnx --input-shape 1,3,640,640 --data pages.npz` "
              "(`.npz` of preprocessed images named after the input `x`)")
BACKENDS = ("onnxruntime", "openvino", "litert")
REC_SHAPE = (48, 320)
DET_SIZE = 640
DET_THRESHOLD = 0.3
CALIB_SAMPLES = 32
UNCLIP_RATIO = 1.5
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif-Bold.ttf",
         "DejaVuSansCondensed.ttf", "DejaVuSerifCondensed.ttf", "DejaVuSans-Oblique.ttf")
DET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
DET_STD = np.array([0.229, 0.224, 0.225], np.float32)


# ---------------------------------------------------------------------------------------------------------
# the model files and the real text


def model_dir() -> Path:
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"PP-OCRv4 ships in rapidocr-onnxruntime's wheel: {INSTALL}")
    return Path(spec.submodule_search_locations[0]) / "models"


def det_file() -> Path:
    return model_dir() / "ch_PP-OCRv4_det_infer.onnx"


def rec_file() -> Path:
    return model_dir() / "ch_PP-OCRv4_rec_infer.onnx"


def characters(path: Path) -> list[str]:
    """The recogniser's classes: CTC blank, the ``character`` list in the ONNX metadata, then space (as PP-OCR)."""
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    return ["", *meta["character"].splitlines(), " "]


def _phrases(docs: list[list[str]], rng: random.Random, n: int, max_chars: int) -> list[str]:
    """``n`` runs of consecutive words (1 to 4, at most ``max_chars``) from random places of ``docs``."""
    out = []
    while len(out) < n:
        words = docs[rng.randrange(len(docs))]
        start = rng.randrange(len(words))
        text = words[start]
        for w in words[start + 1:start + rng.randint(1, 4)]:
            if len(text) + 1 + len(w) > max_chars:
                break
            text += " " + w
        if len(text) <= max_chars:
            out.append(text)
    return out


# ---------------------------------------------------------------------------------------------------------
# rendering


def _font(rng: random.Random, size: int) -> Any:
    from PIL import ImageFont

    return ImageFont.truetype(str(FONT_DIR / rng.choice(FONTS)), size)


def _colours(rng: random.Random) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    ink = tuple(rng.randint(0, 90) for _ in range(3))
    paper = tuple(rng.randint(185, 255) for _ in range(3))
    return ink, paper  # type: ignore[return-value]


def _finish(img: Any, rng: random.Random, nprng: np.random.Generator) -> np.ndarray:
    """Slight blur and sensor noise; RGB uint8 array."""
    from PIL import ImageFilter

    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    arr = np.asarray(img, np.float32) + nprng.normal(0, rng.uniform(0, 6), (img.height, img.width, 1))
    return np.clip(arr, 0, 255).astype(np.uint8)


def render_line(text: str, rng: random.Random, nprng: np.random.Generator) -> np.ndarray | None:
    """One text line as PP-OCR's recogniser takes it: [3, 48, 320] float32 (BGR, (x/255-0.5)/0.5, padded right
    with zeros), or None when the text does not fit 320 wide at height 48."""
    from PIL import Image, ImageDraw

    font = _font(rng, rng.randint(26, 40))
    ink, paper = _colours(rng)
    left, top, right, bottom = font.getbbox(text)
    pad_x, pad_y = rng.randint(2, 10), rng.randint(2, 8)
    img = Image.new("RGB", (right - left + 2 * pad_x, bottom - top + 2 * pad_y), paper)
    ImageDraw.Draw(img).text((pad_x - left, pad_y - top), text, font=font, fill=ink)
    h, w = REC_SHAPE
    width = int(np.ceil(h * img.width / img.height))
    if width > w:
        return None
    arr = _finish(img.resize((width, h), Image.BILINEAR), rng, nprng)
    x = np.zeros((3, h, w), np.float32)
    x[:, :, :width] = (arr[:, :, ::-1].transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
    return x


def text_lines(docs: list[list[str]], n: int, seed: int) -> tuple[np.ndarray, list[str]]:
    rng, nprng = random.Random(seed), np.random.default_rng(seed)
    xs, texts = [], []
    while len(xs) < n:
        for text in _phrases(docs, rng, n - len(xs), 18):
            x = render_line(text, rng, nprng)
            if x is not None:
                xs.append(x)
                texts.append(text)
    return np.stack(xs), texts


def render_page(docs: list[list[str]], rng: random.Random, nprng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A page of text lines at random places and sizes: [3, 640, 640] float32 (BGR, ImageNet mean/std) and its
    ground-truth text mask [640, 640] (the union of the lines' ink boxes)."""
    from PIL import Image, ImageDraw

    ink, paper = _colours(rng)
    img = Image.new("RGB", (DET_SIZE, DET_SIZE), paper)
    draw = ImageDraw.Draw(img)
    mask = np.zeros((DET_SIZE, DET_SIZE), bool)
    y = rng.randint(10, 60)
    while True:
        font = _font(rng, rng.randint(16, 40))
        text = _phrases(docs, rng, 1, 40)[0]
        x = rng.randint(10, 200)
        left, top, right, bottom = draw.textbbox((x, y), text, font=font)
        if bottom > DET_SIZE - 10:
            break
        if right < DET_SIZE - 10:
            draw.text((x, y), text, font=font, fill=ink)
            mask[top:bottom, left:right] = True
        y = bottom + rng.randint(8, 40)
    arr = _finish(img, rng, nprng)
    x = (arr[:, :, ::-1].astype(np.float32) / 255.0 - DET_MEAN) / DET_STD
    return x.transpose(2, 0, 1).astype(np.float32), mask


def pages(docs: list[list[str]], n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng, nprng = random.Random(seed), np.random.default_rng(seed)
    made = [render_page(docs, rng, nprng) for _ in range(n)]
    return np.stack([m[0] for m in made]), np.stack([m[1] for m in made])


# ---------------------------------------------------------------------------------------------------------
# running an artifact and scoring it


def _key(path: Path, runtime: str) -> tuple[str, str]:
    """The same file on the same runtime gives the same outputs (each run's fp32 copy is one file)."""
    import hashlib

    data = path.read_bytes() + (path.with_suffix(".bin").read_bytes() if path.suffix == ".xml" else b"")
    return runtime, hashlib.sha1(data).hexdigest()


def line_boxes(prob: np.ndarray) -> np.ndarray:
    """DB's post-processing on an axis-aligned page: each connected region of ``prob > 0.3`` is a shrunk text line;
    its box grown by ``area * 1.6 / perimeter`` (DB's unclip ratio, PaddleOCR's default) is the line. The
    union of the boxes as a mask."""
    from scipy import ndimage

    labels, _ = ndimage.label(prob > DET_THRESHOLD)
    out = np.zeros(prob.shape, bool)
    for region in ndimage.find_objects(labels):
        h, w = region[0].stop - region[0].start, region[1].stop - region[1].start
        d = round(h * w * UNCLIP_RATIO / (2 * (h + w)))
        out[max(0, region[0].start - d):region[0].stop + d, max(0, region[1].start - d):region[1].stop + d] = True
    return out


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


# ---------------------------------------------------------------------------------------------------------
# measuring


def _runs(work: Path, model: Path, shape: str, data: Path, quick: bool) -> list[tuple[str, str, Any, str]]:
    """dlcompress.quantize per backend and method: (backend, method, report, folder); a backend that cannot take
    the model gives one entry with the report None and the error in place of the folder."""
    import dlcompress
    from dlcompress.toolkit.errors import DLCompressError

    methods = {"onnxruntime": ("static", "dynamic", "fp16"), "openvino": ("static", "fp16"),
               "litert": ("static",)}
    runs = []
    for backend in BACKENDS:
        for method in methods[backend][:1] if quick else methods[backend]:
            out = work / f"{model.stem}-{backend}-{method}"
            try:
                result = dlcompress.quantize(str(model), backend=backend, method=method, input_shape=shape,
                                             data=str(data), out=str(out), overwrite=True, calib_samples=CALIB_SAMPLES,
                                             eval_samples=0, max_seconds=1.0 if quick else 6.0, memory=not quick,
                                             min_samples=3 if quick else 20)
            except DLCompressError as e:
                runs.append((backend, method, None, str(e).splitlines()[0]))
                break
            runs.append((backend, method, result.report, str(out)))
    return runs


def _rows(runs: list[tuple[str, str, Any, str]], title: str, metric: str, data: str, lower: bool,
          score: Any) -> list[RealRow]:
    """RealRows of every run (fp32 once per backend, from its first run), the metric and the extra fidelity
    computed by ``score(path, runtime, fp32_path) -> (metric, fidelity text)``."""
    rows: list[RealRow] = []
    for backend, method, report, folder in runs:
        if report is None:
            rows.append(RealRow(title, backend, f"int8 {method}", None, None, None, metric, None, "", data, lower,
                                note=f"not measured: {folder}"))
            continue
        paths = {r.precision: r.path for r in report.rows if r.path}
        fp32_path = Path(folder) / paths["fp32"]
        metrics, extra = {}, {}
        for r in report.rows:
            if r.path and r.status not in ("failed", "skipped"):
                metrics[r.path], extra[r.path] = score(Path(folder) / r.path, r.runtime, fp32_path)
        have_fp32 = any(row.backend == backend and row.method == "fp32" for row in rows)
        for row, r in zip(rows_from_report(report, title, metric, data, metrics=metrics, lower_is_better=lower),
                          [r for r in report.rows if r.status not in ("failed", "skipped")]):
            if row.method == "fp32" and have_fp32:
                continue
            if row.method != "fp32":
                row.method = "fp16" if method == "fp16" else f"int8 {method}"
            row.fidelity = ", ".join(f for f in (extra.get(r.path or ""), row.fidelity) if f)
            rows.append(row)
    return rows


def measure(work: Path, quick: bool = False) -> list[RealRow]:
    work.mkdir(parents=True, exist_ok=True)
    docs = lee_documents(r"[A-Za-z0-9.,:;'()%$&!?-]+")
    half = len(docs) // 2
    rows: list[RealRow] = []

    # recognition: calibration lines (dlcompress splits the file: 3/4 calibrate, 1/4 is its held-out fidelity
    # set) from the first documents; CER on test lines from the others
    n_calib, n_test = (24, 40) if quick else (128, 300)
    x, _ = text_lines(docs[:half], n_calib, seed=1)
    np.savez(work / "lines.npz", x=x)
    test_x, test_text = text_lines(docs[half:], n_test, seed=2)
    chars = characters(rec_file())
    decoded: dict[tuple[str, str], list[str]] = {}

    def decode(path: Path, runtime: str) -> list[str]:
        key = _key(path, runtime)
        if key not in decoded:
            decoded[key] = ctc_decode(runner(path, runtime)(test_x), chars)
        return decoded[key]

    def rec_score(path: Path, runtime: str, fp32: Path) -> tuple[float, str]:
        text, ref = decode(path, runtime), decode(fp32, runtime)
        return cer(text, test_text), f"same text as fp32 {np.mean([a == b for a, b in zip(text, ref)]):.4f}"

    runs = _runs(work, rec_file(), f"1,3,{REC_SHAPE[0]},{REC_SHAPE[1]}", work / "lines.npz", quick)
    rows += _rows(runs, REC_TITLE, "CER", f"rendered text lines (Lee corpus, DejaVu fonts): lines.npz of {n_calib} "
                  f"(calibration: up to {CALIB_SAMPLES} of its 3/4), {n_test} other test lines",
                  True, rec_score)

    # detection: pages
    n_calib, n_test = (6, 5) if quick else (32, 24)
    x, _ = pages(docs[:half], n_calib, seed=3)
    np.savez(work / "pages.npz", x=x)
    test_x, test_mask = pages(docs[half:], n_test, seed=4)
    maps: dict[tuple[str, str], np.ndarray] = {}

    def probs(path: Path, runtime: str) -> np.ndarray:
        key = _key(path, runtime)
        if key not in maps:
            maps[key] = runner(path, runtime)(test_x)[:, 0]
        return maps[key]

    def det_score(path: Path, runtime: str, fp32: Path) -> tuple[float, str]:
        prob = probs(path, runtime)
        boxes = np.stack([line_boxes(p) for p in prob])
        agree = mask_iou(prob > DET_THRESHOLD, probs(fp32, runtime) > DET_THRESHOLD)
        return mask_iou(boxes, test_mask), f"text-mask IoU vs fp32 {agree:.4f}"

    runs = _runs(work, det_file(), f"1,3,{DET_SIZE},{DET_SIZE}", work / "pages.npz", quick)
    rows += _rows(runs, DET_TITLE, "line-box IoU",
                  f"rendered pages {DET_SIZE}x{DET_SIZE}: pages.npz of {n_calib} (calibration: up to "
                  f"{CALIB_SAMPLES} of its 3/4), {n_test} other test pages",
                  False, det_score)
    return rows
