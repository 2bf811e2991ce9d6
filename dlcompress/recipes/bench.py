"""``dlcompress bench FILE.onnx [MORE.onnx ...]``: time (and, with labelled data, score) model files side by
side; the first file is the reference for fidelity and speed-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dlcompress.benchmarks.harness import BenchOptions
from dlcompress.benchmarks.report import Report
from dlcompress.recipes.common import (
    DataOptions,
    Variant,
    init_runtimes,
    measure_variants,
    new_report,
    prepare,
)
from dlcompress.recipes.loading import load_model
from dlcompress.toolkit.errors import InputShapeError
from dlcompress.toolkit.model_options import ModelOptions
from dlcompress.toolkit.outputs import atomic_dir, check_writable


@dataclass(frozen=True)
class BenchFilesRequest:
    paths: tuple[Path, ...]
    model_options: ModelOptions = field(default_factory=ModelOptions)
    data: DataOptions = field(default_factory=lambda: DataOptions(name="synthetic"))
    bench: BenchOptions = field(default_factory=BenchOptions)
    threads: int | None = None
    out: Path | None = None
    overwrite: bool = False


def bench_files(request: BenchFilesRequest) -> Report:
    """Benchmark model files; write report.json/report.md into ``out`` when given."""
    if request.out is not None:
        check_writable(request.out, request.overwrite)
    options = init_runtimes(request.threads)
    first = str(request.paths[0])
    prepared = prepare(first, request.model_options, request.data)
    variants = [Variant(request.paths[0].name, prepared.artifact, status="input")]
    for p in request.paths[1:]:
        art = load_model(str(p), request.model_options)
        if [t.name for t in art.spec.inputs] != [t.name for t in prepared.spec.inputs]:
            raise InputShapeError(f"{p.name} takes inputs {art.spec.signature()}, unlike {first} ({prepared.spec.signature()})",
                                  "compare files of the same model")
        variants.append(Variant(p.name, art, status="input"))
    for v in variants:
        v.artifact = _with_precision(v.artifact)
    rows, diagnosis = measure_variants(variants, prepared, request.data, request.bench, options)
    report = new_report("bench", prepared, request.data, None, request.bench)
    report.rows, report.diagnosis = rows, diagnosis
    if request.out is not None:
        with atomic_dir(request.out, request.overwrite) as folder:
            (folder / "report.json").write_text(report.dumps())
            (folder / "report.md").write_text(report.to_markdown())
    return report


def _with_precision(artifact):  # noqa: ANN001, ANN202
    """Guess an ONNX file's precision from its ops (QLinear*/Integer ops: int8; fp16 initializers: fp16)."""
    import dataclasses

    from dlcompress.benchmarks.diagnosis import onnx_op_census

    ops = onnx_op_census(artifact.path, optimized=False)
    if any(k.startswith("QLinear") or k.endswith("Integer") or k in ("QuantizeLinear", "DynamicQuantizeLinear") for k in ops):
        return dataclasses.replace(artifact, precision="int8")
    import onnx

    model = onnx.load(str(artifact.path), load_external_data=False)
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer):
        return dataclasses.replace(artifact, precision="fp16")
    return artifact
