"""Importing TensorFlow beside torch without a crash.

Measured here (tensorflow-cpu 2.21, torch 2.14.1 with triton 3.8): once TensorFlow's libraries are loaded,
loading triton's ``libtriton.so`` segfaults the process — and torch loads it on the first ``torch._dynamo``
import, which ``torch.optim`` steps, ``torch.export`` and PT2E all do. The other order works. So every place
that may import TensorFlow (a Keras model, litert-torch, which imports TensorFlow when it is installed) calls
:func:`triton_loaded_first` before it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys


def triton_loaded_first() -> None:
    """Load triton's native library now, if triton is installed and TensorFlow is not loaded yet (~0.3 s)."""
    if "tensorflow" in sys.modules or "triton._C.libtriton" in sys.modules:
        return
    try:
        if importlib.util.find_spec("triton") is None:
            return
        importlib.import_module("triton._C.libtriton")
    except Exception:  # noqa: BLE001 - a broken triton install must not stop a TensorFlow-only job
        return


def import_tensorflow():
    """``import tensorflow`` with its C++ start-up lines down to warnings, after triton (see the module doc)."""
    triton_loaded_first()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow

    return tensorflow
