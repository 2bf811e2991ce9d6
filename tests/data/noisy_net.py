"""A user model whose factory is as noisy as real libraries are: a line on ``sys.stderr``, a logging warning
(through a handler that holds ``sys.stderr``, as torch's does), a Python warning and a native write to fd 2."""

import logging
import os
import sys
import warnings

from torch import nn


def build() -> nn.Module:
    print("NOISE-PRINT from the library", file=sys.stderr)
    logger = logging.getLogger("noisy.library")
    if not logger.handlers:
        logger.addHandler(logging.StreamHandler(sys.stderr))
    logger.warning("NOISE-LOG from the library")
    warnings.warn("NOISE-WARNING from the library", UserWarning, stacklevel=1)
    os.write(2, b"NOISE-NATIVE from the library\n")
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
