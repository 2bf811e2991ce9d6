"""Exporter: turns a torch artifact into a deployment format, then the result is validated."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from dlcompress.toolkit.artifact import Artifact, Format
from dlcompress.toolkit.registry import Registry


@dataclass(frozen=True)
class ExportOptions:
    """``route`` picks an exporter implementation ("auto" tries them in order); ``opset`` is ONNX's."""

    route: str = "auto"
    opset: int | None = None
    dynamic_batch: bool = True


class Exporter(ABC):
    """One deployment format. Capabilities are plain fields, read by the CLI, docs and benchmarks."""

    format: Format
    suffix: str
    routes: tuple[str, ...] = ("default",)
    supports_dynamic_batch: bool = False
    install_hint: str = ""

    @abstractmethod
    def export(self, artifact: Artifact, out_path: Path, options: ExportOptions) -> Artifact:
        """Write ``artifact`` (torch) to ``out_path`` and return the new artifact, with a lineage record."""

    def available(self) -> bool:  # noqa: D102 - overridden by optional backends
        return True


EXPORTERS: Registry[Exporter] = Registry("export format")
