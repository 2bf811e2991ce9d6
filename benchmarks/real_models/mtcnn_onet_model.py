"""MTCNN's ONet (the last, 48x48 stage of the MTCNN face detector) as a user's Python factory: ``build`` returns the
network with the pretrained weights the ``facenet-pytorch`` wheel ships (``facenet_pytorch/data/onet.pt``), read
with ``torch.load(weights_only=True)``. The architecture is a copy of ``facenet_pytorch/models/mtcnn.py``'s, so
nothing of facenet_pytorch is imported (its package pins torch<2.3 and imports its own dependencies).

    dlcompress quantize --model benchmarks/real_models/mtcnn_onet_model.py:build --input-shape 1,3,48,48

Input: ``[batch, 3, 48, 48]`` RGB in the usual row-major layout (H then W; the Caffe weights' transposed training
layout is undone inside ``forward`` by the permute before ``dense5``), normalised as MTCNN does,
``(pixel - 127.5) * 0.0078125`` for pixels in 0..255. Outputs as facenet-pytorch's ONet returns them: bounding-box
regression ``[batch, 4]``, five landmarks ``[batch, 10]``, face / non-face probabilities ``[batch, 2]`` (softmax;
index 1 is "face").
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn


def weights_path() -> Path:
    """``onet.pt`` inside the installed facenet-pytorch wheel, found without importing the package."""
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("ONet's weights ship in facenet-pytorch's wheel: pip install --no-deps facenet-pytorch==2.6.0")
    return Path(spec.submodule_search_locations[0]) / "data" / "onet.pt"


class ONet(nn.Module):
    """MTCNN ONet, layer for layer (and state-dict key for key) as facenet-pytorch 2.6.0 defines it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.softmax6_1 = nn.Softmax(dim=1)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = x.permute(0, 3, 2, 1).contiguous()  # the Caffe weights were trained on W/H-transposed images
        x = self.prelu5(self.dense5(x.view(x.shape[0], -1)))
        probs = self.softmax6_1(self.dense6_1(x))
        return self.dense6_2(x), self.dense6_3(x), probs


def build() -> ONet:
    """ONet with the wheel's pretrained weights, in eval mode."""
    model = ONet()
    model.load_state_dict(torch.load(weights_path(), map_location="cpu", weights_only=True))
    return model.eval()
