"""Attribution methods: which pixels made a model predict a class.

* ``gradcam``: Grad-CAM (Selvaraju et al., 2017) through pytorch-grad-cam (PyPI ``grad-cam``): the gradients of
  the class score at the last convolution layer of a torch model, so it needs the torch model itself.
* ``lime``: LIME (Ribeiro et al., 2016) through ``lime``: a linear model of the class probability over
  superpixels switched on and off, fitted to the model's answers on perturbed copies.
* ``shap``: SHAP's Partition explainer (Lundberg & Lee, 2017) through ``shap``: Owen values over a hierarchy of
  pixel blocks, hidden ones set to the baseline.

LIME and SHAP only call the model, so they explain any artifact as its own runtime runs it (ONNX Runtime,
OpenVINO, LiteRT, torch); the same seed gives the same perturbations for every model, so two models' maps differ
only where the models do. Every map is ``(H, W)`` over the model's input pixels, higher = more evidence for the
class. Images here are pixels: ``(N, H, W, C)`` in [0, 1], before the model's normalisation.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dlcompress.toolkit.errors import (
    BackendUnavailableError,
    UnknownNameError,
    UnsupportedError,
)
from dlcompress.toolkit.progress import silenced
from dlcompress.toolkit.runtimes import Runtime

INSTALL_HINT = "pip install 'dlcompress[explain]'"


@dataclass(frozen=True)
class PixelSpace:
    """Pixels in [0, 1] (``N, H, W, C``) <-> the model's inputs (normalised, NCHW unless ``channels_last``)."""

    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    channels_last: bool = False

    def to_pixels(self, inputs: np.ndarray) -> np.ndarray:
        x = np.asarray(inputs, dtype=np.float32)
        if not self.channels_last:
            x = x.transpose(0, 2, 3, 1)
        if self.mean is not None and self.std is not None:
            x = x * np.asarray(self.std, np.float32) + np.asarray(self.mean, np.float32)
        return np.ascontiguousarray(x)

    def to_inputs(self, pixels: np.ndarray) -> np.ndarray:
        x = np.asarray(pixels, dtype=np.float32)
        if self.mean is not None and self.std is not None:
            x = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        if not self.channels_last:
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x, dtype=np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities of logits (rows that already are probabilities are kept as they are)."""
    x = np.asarray(logits, dtype=np.float64)
    if x.min() >= 0 and np.allclose(x.sum(1), 1.0, atol=1e-3):
        return x
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


class Predictor:
    """Class probabilities of pixel images through one runtime (its first input and first output), in batches."""

    def __init__(self, runtime: Runtime, space: PixelSpace, batch: int = 64) -> None:
        self.runtime, self.space, self.batch = runtime, space, batch
        self.input = runtime.input_names[0]
        self.output = runtime.output_names[0] if runtime.output_names else None
        self.calls = 0

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        pixels = np.asarray(pixels, dtype=np.float32)
        out = []
        for i in range(0, len(pixels), self.batch):
            result = self.runtime.run({self.input: self.space.to_inputs(pixels[i:i + self.batch])})
            out.append(result[self.output] if self.output in result else next(iter(result.values())))
            self.calls += 1
        return softmax(np.concatenate(out).reshape(len(pixels), -1))


@dataclass
class Subject:
    """What a method explains: a model's probabilities on pixels, and the torch module where there is one."""

    name: str
    predict: Predictor | Callable[[np.ndarray], np.ndarray]
    space: PixelSpace
    torch_model: object | None = None
    format: str = "torch"


@dataclass(frozen=True)
class Settings:
    """``samples``: LIME's perturbed copies and SHAP's model evaluations per image; ``seed``: the same
    perturbations for every model; ``segments``: LIME's superpixels (SLIC; default: one per ~16 pixels, at most 100)."""

    samples: int = 500
    seed: int = 0
    segments: int | None = None
    batch: int = 64


@dataclass(frozen=True)
class Method:
    name: str
    title: str
    needs_torch: bool
    requires: str
    run: Callable[[Subject, np.ndarray, int, Settings], np.ndarray]

    def why_not(self, subject: Subject) -> str | None:
        """Why this method cannot explain ``subject`` (None when it can)."""
        if self.needs_torch and subject.torch_model is None:
            kind = {"onnx": "an ONNX", "openvino": "an OpenVINO", "litert": "a LiteRT (TFLite)"}.get(subject.format,
                                                                                                 f"a {subject.format}")
            return (f"{self.title} needs a torch model with gradients; {subject.name} is {kind} model "
                    "(LIME and SHAP explain it through its runtime)")
        return None


def last_conv(model: object) -> object:
    """The last 2-D convolution of a torch module (Grad-CAM's target layer)."""
    from torch import nn

    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]  # type: ignore[attr-defined]
    if not convs:
        raise UnsupportedError(f"Grad-CAM needs a convolution layer, and {type(model).__name__} has none",
                               "explain it with --methods lime,shap")
    return convs[-1]


def _gradcam(subject: Subject, pixels: np.ndarray, target: int, settings: Settings) -> np.ndarray:
    import torch

    try:
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    except ImportError:
        raise BackendUnavailableError("Grad-CAM needs the grad-cam package", INSTALL_HINT) from None
    model = subject.torch_model
    layer = last_conv(model)
    x = torch.from_numpy(subject.space.to_inputs(pixels[None]))
    with torch.enable_grad(), GradCAM(model=model, target_layers=[layer]) as cam:  # type: ignore[arg-type]
        found = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(target))])
    return np.asarray(found[0], dtype=np.float32)


def lime_segments(pixels: np.ndarray, settings: Settings) -> np.ndarray:
    """SLIC superpixels of one image (the same for every model, as they depend on the image only)."""
    from skimage.segmentation import slic

    h, w, c = pixels.shape
    n = settings.segments or max(4, min(100, h * w // 16))
    rgb = pixels if c == 3 else np.repeat(pixels[..., :1], 3, axis=-1)
    return slic(rgb.astype(np.float64), n_segments=n, compactness=10.0, start_label=0, channel_axis=-1)


def _lime(subject: Subject, pixels: np.ndarray, target: int, settings: Settings) -> np.ndarray:
    try:
        from lime.lime_image import LimeImageExplainer
    except ImportError:
        raise BackendUnavailableError("LIME needs the lime package", INSTALL_HINT) from None
    c = pixels.shape[-1]
    segments = lime_segments(pixels, settings)
    rgb = pixels if c == 3 else np.repeat(pixels[..., :1], 3, axis=-1)

    def classify(batch: np.ndarray) -> np.ndarray:
        return subject.predict(batch if c == 3 else batch[..., :c])

    explainer = LimeImageExplainer(random_state=settings.seed)
    with silenced("lime", ignore_warnings=True), contextlib.redirect_stderr(io.StringIO()):  # its tqdm bar
        found = explainer.explain_instance(rgb.astype(np.float64), classify, labels=(int(target),), top_labels=None,
                                           hide_color=0.0, num_features=int(segments.max()) + 1,
                                           num_samples=settings.samples, batch_size=settings.batch,
                                           segmentation_fn=lambda image: segments, random_seed=settings.seed)
    weights = np.zeros(int(segments.max()) + 1, dtype=np.float32)
    for seg, weight in found.local_exp[int(target)]:
        weights[seg] = weight
    return weights[segments]


def _shap(subject: Subject, pixels: np.ndarray, target: int, settings: Settings) -> np.ndarray:
    try:
        import shap
    except ImportError:
        raise BackendUnavailableError("SHAP needs the shap package", INSTALL_HINT) from None
    shape = pixels.shape

    def score(batch: np.ndarray) -> np.ndarray:
        return subject.predict(np.asarray(batch, np.float32).reshape(-1, *shape))[:, [int(target)]]

    masker = shap.maskers.Image(0.0, shape)
    explainer = shap.explainers.Partition(score, masker)
    with silenced("shap", ignore_warnings=True):
        found = explainer(pixels[None].astype(np.float64), max_evals=settings.samples,
                          batch_size=settings.batch, silent=True)
    return np.asarray(found.values[0, ..., 0], dtype=np.float32).sum(-1)


METHODS: dict[str, Method] = {
    "gradcam": Method("gradcam", "Grad-CAM", True, "grad-cam", _gradcam),
    "lime": Method("lime", "LIME", False, "lime", _lime),
    "shap": Method("shap", "SHAP", False, "shap", _shap),
}


def get_method(name: str) -> Method:
    """The method called ``name``; an unknown name is one error listing the known ones."""
    if name not in METHODS:
        import difflib

        close = difflib.get_close_matches(name, list(METHODS), n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise UnknownNameError(f"unknown attribution method {name!r}", f"{hint}use one or more of: {', '.join(METHODS)}")
    return METHODS[name]


def explain(method: Method, subject: Subject, pixels: np.ndarray, target: int, settings: Settings) -> np.ndarray:
    """``method``'s map of ``pixels`` (``H, W, C``) for class ``target`` of ``subject``."""
    reason = method.why_not(subject)
    if reason is not None:
        raise UnsupportedError(reason)
    found = method.run(subject, pixels, target, settings)
    return np.nan_to_num(np.asarray(found, dtype=np.float32).reshape(pixels.shape[:2]))
