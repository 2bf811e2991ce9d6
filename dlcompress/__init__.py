"""dlcompress: compress a model (quantize, prune, distill, depthwise-separable), export it to the format a device
runs (ONNX, OpenVINO IR, TFLite/LiteRT), and report what was gained and lost, measured side by side.

The public API, loaded on first use so that ``import dlcompress`` stays cheap (no torch, no runtimes)::

    import dlcompress
    result = dlcompress.quantize("resnet50")            # same as `dlcompress quantize --model resnet50`
    dlcompress.export("resnet18", format="openvino", out="resnet18.xml")
    report, folder = dlcompress.bench("resnet50,mobilenet_v2", backends="onnxruntime,openvino")
    dlcompress.prune("small_cnn", target_macs=0.5, weights="small_cnn.pt")
    artifact = dlcompress.load_model("mobilenet_v2")
    result = dlcompress.run("server-int8", sets=["model=resnet18"])   # a recipe: shipped name or YAML file
    result = dlcompress.explain("small_cnn", data="fashion-mnist", methods="lime,shap")  # attribution drift

Each takes the request dataclass the CLI builds (``dlcompress.QuantizeRequest`` ...) or keywords naming its
fields; see :mod:`dlcompress.recipes.public`.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("dlcompress")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

_PUBLIC = "dlcompress.recipes.public"
_LAZY = {
    "quantize": _PUBLIC, "export": _PUBLIC, "bench": _PUBLIC, "prune": _PUBLIC, "distill": _PUBLIC,
    "load_model": _PUBLIC, "run": _PUBLIC, "explain": _PUBLIC,
    "QuantizeRequest": "dlcompress.recipes.quantize", "ExportRequest": "dlcompress.recipes.export",
    "BenchRequest": "dlcompress.recipes.bench_models", "PruneRequest": "dlcompress.recipes.prune",
    "DistillRequest": "dlcompress.recipes.distill", "DataOptions": "dlcompress.recipes.common",
    "Artifact": "dlcompress.toolkit.artifact", "ModelSpec": "dlcompress.toolkit.spec",
    "Report": "dlcompress.benchmarks.report", "DLCompressError": "dlcompress.toolkit.errors",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    """Import the module behind a public name on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dlcompress' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
