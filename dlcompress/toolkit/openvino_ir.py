"""Writing an OpenVINO IR: the one call the OpenVINO exporter and the OpenVINO quantizer share."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def save(model: Any, path: Path, compress_to_fp16: bool) -> None:
    """``path`` (``.xml``) and its ``.bin`` beside it."""
    import openvino as ov

    ov.save_model(model, str(path), compress_to_fp16=compress_to_fp16)
