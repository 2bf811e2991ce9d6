"""ExecuTorch export: ``torch.export`` at batch 1 -> XNNPACK-delegated edge program -> ``.pte`` file.

- Shapes are static (batch 1, like LiteRT); the ExecuTorch runtime runs other batches as batch-1 calls.
- Only what ``torch.export`` can capture lowers: torchvision detection models do not (data-dependent NMS);
  the error names that root cause in one line.
- The lineage records how many operator nodes the XNNPACK delegate took (the rest run on portable kernels).
"""

from __future__ import annotations

import time
from pathlib import Path

from dlcompress.exporters.base import EXPORTERS, Exporter, ExportOptions
from dlcompress.toolkit.artifact import Artifact, Format, StageRecord
from dlcompress.toolkit.errors import ExportError, UnsupportedError
from dlcompress.toolkit.executorch_lower import (
    EXPORT_BATCH,
    INSTALL_HINT,
    available,
    executorch_version,
    export_program,
    lower_to_pte,
    require,
)
from dlcompress.toolkit.host_postprocess import split_for
from dlcompress.toolkit.litert_convert import sample_args


class ExecuTorchExporter(Exporter):
    """A torch artifact to a ``.pte`` program with the XNNPACK delegate, at batch 1."""

    format = Format.EXECUTORCH
    suffix = ".pte"
    routes = ("xnnpack",)
    supports_dynamic_batch = False
    install_hint = INSTALL_HINT

    def available(self) -> bool:
        return available()

    def export(self, artifact: Artifact, out_path: Path, options: ExportOptions) -> Artifact:
        if options.route not in ("auto", *self.routes):
            raise ExportError(f"unknown ExecuTorch export route {options.route!r}", f"use one of: auto, {', '.join(self.routes)}")
        if artifact.format is not Format.TORCH:
            raise UnsupportedError(f"ExecuTorch export takes a torch model, not {artifact.format}",
                                   "load the model from a zoo name, checkpoint or factory")
        require()
        start = time.perf_counter()
        cut = split_for(artifact, "executorch")
        network, post = cut if cut is not None else (artifact, None)
        spec, out_path = network.spec, Path(out_path)
        what = f"ExecuTorch export of {spec.name}"
        program = export_program(network.model.eval(), sample_args(spec, EXPORT_BATCH), what)  # type: ignore[union-attr]
        counts = lower_to_pte(program, out_path, what)
        record = StageRecord(
            "export",
            {"format": "executorch", "route": "xnnpack", "executorch": executorch_version(), "delegate": "XNNPACK",
             "precision": "fp32", "batch": EXPORT_BATCH, "dynamic_batch": False, **counts,
             **({"host_postprocess": post.description} if post else {})},
            {"size_bytes": out_path.stat().st_size, "fallback_from": []},
            seconds=round(time.perf_counter() - start, 2),
        )
        return artifact.derive(record, format=Format.EXECUTORCH, spec=spec, path=out_path, model=None, source=network,
                               precision="fp32", postprocess=post)


EXPORTERS.add("executorch", ExecuTorchExporter())
