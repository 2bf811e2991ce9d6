"""A small 3-channel CNN with one layer that int8 ruins on purpose: ``spiky``'s first output channel is scaled by
10^5 (as outlier channels of real networks are, only more), so a per-tensor int8 range for its output leaves the
other channels a handful of levels; the next layer ignores that channel, so in float it costs nothing."""

import torch
from torch import nn


def build() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1),   # "spiky" (index 2)
        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
    )
    with torch.no_grad():
        spiky, after = net[2], net[3]
        spiky.weight[0] *= 1e5
        spiky.bias[0] *= 1e5
        after.weight[:, 0] = 0.0
        head = net[7]  # class k = pooled channel k + 1: the prediction follows the image, not a bias
        head.weight.zero_()
        head.bias.zero_()
        head.weight[torch.arange(10), torch.arange(1, 11)] = 1.0
    return net.eval()
