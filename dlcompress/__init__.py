"""dlcompress: compress a model (quantize, prune, distill, depthwise-separable), export it to the format a device
runs (ONNX, OpenVINO IR, TFLite/LiteRT), and report what was gained and lost, measured side by side.

Importing the package is cheap: torch and the runtimes are imported by the modules that use them.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dlcompress")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"
