"""Exporters, one module per format, registered in :data:`EXPORTERS`."""

import importlib.util

from dlcompress.exporters import onnx  # noqa: F401  (registers "onnx")

if importlib.util.find_spec("openvino") is not None:  # the [openvino] extra
    from dlcompress.exporters import openvino  # noqa: F401  (registers "openvino")
if importlib.util.find_spec("litert_torch") is not None:  # the [litert] extra
    from dlcompress.exporters import litert  # noqa: F401  (registers "litert")
if importlib.util.find_spec("executorch") is not None:  # the [executorch] extra
    from dlcompress.exporters import executorch  # noqa: F401  (registers "executorch")
from dlcompress.exporters.base import EXPORTERS, Exporter, ExportOptions
from dlcompress.toolkit.backends import backend_for


def exporter_for(fmt: str) -> Exporter:
    """The exporter of ``fmt``. A known format whose extra is not installed raises the backend's install hint
    (``pip install 'dlcompress[executorch]'``) rather than "unknown export format"."""
    backend = backend_for(fmt)
    if fmt not in EXPORTERS and backend is not None:
        backend.require()
    return EXPORTERS.get(fmt)


__all__ = ["EXPORTERS", "ExportOptions", "Exporter", "exporter_for"]
