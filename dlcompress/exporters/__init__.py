"""Exporters, one module per format, registered in :data:`EXPORTERS`."""

from dlcompress.exporters import onnx  # noqa: F401  (registers "onnx")
from dlcompress.exporters.base import EXPORTERS, Exporter, ExportOptions

__all__ = ["EXPORTERS", "ExportOptions", "Exporter"]
