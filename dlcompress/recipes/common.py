"""Pieces every command shares: resolve model + data, make feeds, evaluate and time variants into rows."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dlcompress.benchmarks.diagnosis import (
    explain_slow_quantized,
    onnx_op_census,
    summarize_census,
)
from dlcompress.benchmarks.harness import BenchOptions, measure
from dlcompress.benchmarks.memprobe import peak_memories
from dlcompress.benchmarks.report import Report, Row
from dlcompress.recipes.loading import load_model
from dlcompress.toolkit.artifact import Artifact, Format, StageRecord
from dlcompress.toolkit.batchnorm import recalibrate_batchnorm
from dlcompress.toolkit.calibration import Calibration
from dlcompress.toolkit.complexity import count_macs, count_params
from dlcompress.toolkit.data import (
    DataSplits,
    ImageSource,
    ImageTransform,
    is_data_file,
    load_dataset,
)
from dlcompress.toolkit.devices import environment
from dlcompress.toolkit.errors import DatasetError, InputShapeError
from dlcompress.toolkit.feeds import FEEDS_KIND, FeedSplits, is_feed_dataset
from dlcompress.toolkit.metrics import (
    Fidelity,
    Outputs,
    collect_batches,
    first_output,
    task_fidelity,
    top1_accuracy,
)
from dlcompress.toolkit.model_options import ModelOptions
from dlcompress.toolkit.progress import note, step
from dlcompress.toolkit.runtimes import Runtime, RuntimeOptions, open_runtime
from dlcompress.zoo import MODELS

BN_RECALIBRATION_IMAGES = 32
DEFAULT_DATA_WHY = {
    "photos": "real photos, crops of scikit-image's bundled images: the default for an image model",
    "synthetic": "random inputs from the model's signature: latency only, no accuracy",
}


@dataclass(frozen=True)
class DataOptions:
    """Which data, and how much of it: ``calib_samples`` from the train split, ``eval_samples`` held out
    (0 = the whole test split)."""

    name: str | None = None
    calib_samples: int = 64
    eval_samples: int = 1000
    eval_batch: int = 32
    text_column: str | None = None
    """The text column of a ``.csv``/``.jsonl`` data file (default: ``text``, else the only text column)."""
    label_column: str | None = None
    """The column of class labels in a ``.csv``/``.jsonl`` data file (the labels array of an ``.npz``)."""

    def file_options(self) -> dict[str, str]:
        """The columns given, as keywords for a data file's loader."""
        given = {"text_column": self.text_column, "label_column": self.label_column}
        return {k: v for k, v in given.items() if v is not None}


@dataclass
class Prepared:
    """A loaded model with its data and the transform from raw items to model inputs."""

    artifact: Artifact
    data: DataSplits | FeedSplits
    transform: ImageTransform | None
    params: int | None = None
    macs: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def spec(self):  # noqa: ANN201
        return self.artifact.spec

    @property
    def labelled(self) -> bool:
        if self.data.kind == FEEDS_KIND:
            return self.data.labelled
        return self.data.labelled and self.transform is not None and self.spec.task == "image-classification"

    @property
    def metric_name(self) -> str | None:
        """The task metric reported for labelled data (the feed dataset's own, else top-1)."""
        if not self.labelled:
            return None
        return self.data.metric.name if self.data.kind == FEEDS_KIND else "top1"

    def score(self, outputs: np.ndarray, labels: np.ndarray | None) -> dict[str, object] | None:
        """The task metric of the first output over the evaluation set, or None without labels."""
        if labels is None or not len(outputs) or self.metric_name is None:
            return None
        value = self.data.metric.score(outputs, labels) if self.data.kind == FEEDS_KIND else top1_accuracy(outputs, labels)
        result = {"name": self.metric_name, "value": round(float(value), 6), "samples": int(len(labels))}
        extras = self.data.metric.extras if self.data.kind == FEEDS_KIND else None
        if extras is not None:  # e.g. a language model's perplexity, next to its next-token accuracy
            result.update({k: round(float(v), 6) for k, v in extras(outputs, labels).items()})
        return result

    def feeds(self, split: str, n: int | None, batch: int) -> list[dict[str, np.ndarray]]:
        """Model inputs from the train or test split, all at once (see :meth:`stream`)."""
        return list(self.stream(split, n, batch))

    def calibration(self, n: int | None, batch: int = 8) -> Calibration:
        """The calibration set quantizers take: ``n`` raw training items and the transform into model inputs."""
        return self.stream("train", n, batch)

    def stream(self, split: str, n: int | None, batch: int) -> Calibration:
        """Model inputs from the train or test split (or from the signature when the data is not images), read
        and transformed batch by batch. Models without a symbolic batch dim (detectors) get one sample per
        feed; a model with several image inputs (Siamese pair, triplet) gets different images in each."""
        batch = min(batch, self.spec.fixed_batch or batch)
        name = f"{self.data.name}/{split}"
        if self.data.kind == FEEDS_KIND:  # ready model inputs from the model's own data source
            feeds = getattr(self.data, split).head(n or None)
            return Calibration(lambda a, b: feeds.batch(range(a, b)), lambda feed: feed, len(feeds), batch, name)
        if self.transform is None:  # inputs generated from the signature (seeded per batch, per split)
            offset = 0 if split == "train" else 10_000
            spec = self.spec
            return Calibration(lambda a, b: (a, b - a), lambda r: spec.example_inputs(r[1], seed=r[0] + offset),
                               n or 8, batch, f"synthetic/{split}")
        source: ImageSource = getattr(self.data, split).head(n if n else None)
        names = [t.name for t in self.spec.inputs]
        transform = self.transform

        def images(a: int, b: int) -> list[np.ndarray]:
            return [source.batch(_image_indices(a, b, k, len(names), len(source))) for k in range(len(names))]

        return Calibration(images, lambda raws: {nm: transform(raw) for nm, raw in zip(names, raws)}, len(source),
                           batch, name)

    def validation_feeds(self) -> list[dict[str, np.ndarray]]:
        """What an export is validated on: 8 held-out samples (in batches of 2, then 1 more: a dynamic batch is
        checked at two sizes) plus, for non-image inputs, two batches generated from the signature.

        Image models get no generated noise: with BatchNorm statistics re-estimated on photos, a random-init
        deep net is chaotic on noise (EfficientNet-B4: logits 1500x those on photos, and a 1e-5 change of the
        input moves them by 2.6%), so float reordering alone would fail a correct export.
        """
        real = self.feeds("test", 8, 2) + self.feeds("test", 1, 1)
        if self.transform is not None:
            return real
        return [self.spec.example_inputs(2, seed=s) for s in range(2)] + real

    def labels(self, n: int | None) -> np.ndarray | None:
        if not self.labelled or self.data.test.labels is None:
            return None
        return self.data.test.head(n if n else None).labels


def _image_indices(start: int, stop: int, k: int, inputs: int, total: int) -> list[int]:
    """Images for input ``k`` of ``inputs``: the first gets ``start..stop``, the others the same run shifted by
    ``k * total // inputs`` (wrapping), so the images of a pair or triplet differ."""
    shift = k * total // inputs
    return [(i + shift) % total for i in range(start, stop)]


def prepare(model: str, model_options: ModelOptions, data_options: DataOptions) -> Prepared:
    """Load data and model; adapt the model to labelled data; re-estimate BN statistics of random-init nets.

    Without ``--data``, a zoo entry gets its own dataset and any other model the one its spec names (a Hugging
    Face text model: real sentences through its tokenizer); such a model is loaded first to know it."""
    artifact = None
    data_name = data_options.name
    if not data_name:
        if model in MODELS:
            data_name = MODELS.get(model).card.default_data
        else:
            artifact = load_model(model, model_options, None)
            data_name = artifact.spec.card.default_data
    if data_options.file_options() and not is_data_file(data_name):
        flag = "--text-column" if data_options.text_column else "--label-column"
        raise DatasetError(f"{flag} names a column of a data file; --data {data_name} is not one",
                           "give --data FILE.csv or FILE.jsonl (or FILE.npz for --label-column)")
    if is_feed_dataset(data_name):
        return prepare_feeds(model, model_options, data_name, artifact, data_options.file_options())
    data = load_dataset(data_name) if data_name != "synthetic" else None
    if artifact is None:
        artifact = load_model(model, model_options, data)
    spec = artifact.spec
    if data is None:
        c, hw = (spec.image_shape[0], spec.image_shape[1:]) if spec.is_image_model else (3, (224, 224))
        data = load_dataset("synthetic", channels=c, image_size=hw)
    transform = None
    if spec.is_image_model:
        transform = ImageTransform.for_spec(spec)
    elif data.name != "synthetic":
        raise DatasetError(f"{spec.name} takes {spec.signature()}, which image data cannot feed",
                           "use --data synthetic")
    prepared = Prepared(artifact, data, transform)
    if not data_options.name and model not in MODELS:  # a brought model: say which data it got, and why
        line = f"data: {data.name} ({DEFAULT_DATA_WHY.get(data.name, 'the default for this model')}; choose with --data)"
        step(line)
        prepared.notes.append(line)
    if data.labelled and spec.card.num_classes is not None and data.num_classes is not None \
            and spec.card.num_classes != data.num_classes and spec.task == "image-classification":
        raise DatasetError(f"{spec.name} predicts {spec.card.num_classes} classes but {data.name} has {data.num_classes}",
                           "train a checkpoint on this data (dlcompress train) or pick matching data")
    return describe_torch_model(prepared)


def prepare_feeds(model: str, model_options: ModelOptions, data_name: str, artifact: Artifact | None = None,
                  file_options: dict[str, str] | None = None) -> Prepared:
    """A model fed by a feed dataset or a data file: the model first (the data makes inputs for its signature);
    ``file_options`` (the columns of a text table) go to a data file's loader."""
    artifact = artifact or load_model(model, model_options, None)
    data = load_dataset(data_name, spec=artifact.spec, **(file_options or {}))
    prepared = Prepared(artifact, data, None)
    kind = "synthetic" if data.synthetic else "real"
    step(f"data: {data.name} ({kind}): {data.provenance}")
    prepared.notes.append(f"data: {data.name} ({kind}): {data.provenance}")
    return describe_torch_model(prepared)


def describe_torch_model(prepared: Prepared) -> Prepared:
    """For torch models: note random init (and re-estimate BN statistics), count params and MACs."""
    artifact, spec = prepared.artifact, prepared.spec
    if artifact.format is Format.TORCH:
        weights = artifact.lineage[0].effect.get("weights")
        if weights == "random-init":
            note(f"{spec.name}: no pretrained weights given, so the model is randomly initialised "
                 "(accuracy is meaningless; latency, size and fidelity are real). Pass --weights for a trained model.")
            prepared.notes.append("random-init weights: accuracy is not meaningful; latency, size and fidelity are")
            prepared = recalibrate(prepared)
        with torch.no_grad():
            feed = spec.example_inputs(1)
            prepared.params = count_params(artifact.model)
            prepared.macs = count_macs(artifact.model, tuple(torch.from_numpy(feed[t.name]) for t in spec.inputs))
    return prepared


def recalibrate(prepared: Prepared) -> Prepared:
    """Re-estimate BatchNorm statistics on real training images (a lineage step), when the model has BN."""
    if prepared.data.kind == FEEDS_KIND:
        return recalibrate_on_feeds(prepared)
    if prepared.transform is None or prepared.data.name == "synthetic":
        return prepared
    source = prepared.data.train
    idx = np.arange(max(0, len(source) - BN_RECALIBRATION_IMAGES), len(source))
    batch = torch.from_numpy(prepared.transform(source.batch(idx)))
    start = time.perf_counter()
    inputs = len(prepared.spec.inputs)  # several image inputs (a Siamese pair) all see the batch
    n = recalibrate_batchnorm(prepared.artifact.model,
                              [(batch[i:i + 8],) * inputs for i in range(0, len(batch), 8)])
    if n:
        record = StageRecord("bn_recalibration", {"images": len(idx), "data": prepared.data.name},
                             {"batchnorm_layers": n}, seconds=round(time.perf_counter() - start, 2))
        prepared.artifact = prepared.artifact.derive(record)
        prepared.notes.append(f"BatchNorm statistics of {n} layers re-estimated on {len(idx)} real images "
                              f"({prepared.data.name}) so activations have realistic ranges")
    return prepared


def recalibrate_on_feeds(prepared: Prepared) -> Prepared:
    """Re-estimate BatchNorm statistics on the last calibration items of a feed dataset."""
    source = prepared.data.train
    idx = np.arange(max(0, len(source) - BN_RECALIBRATION_IMAGES), len(source))
    names = [t.name for t in prepared.spec.inputs]
    batches = [source.batch(idx[i:i + 8]) for i in range(0, len(idx), 8)]
    start = time.perf_counter()
    n = recalibrate_batchnorm(prepared.artifact.model, [tuple(torch.from_numpy(b[k]) for k in names) for b in batches])
    if n:
        record = StageRecord("bn_recalibration", {"samples": len(idx), "data": prepared.data.name},
                             {"batchnorm_layers": n}, seconds=round(time.perf_counter() - start, 2))
        prepared.artifact = prepared.artifact.derive(record)
        prepared.notes.append(f"BatchNorm statistics of {n} layers re-estimated on {len(idx)} {prepared.data.name} "
                              "samples so activations have realistic ranges")
    return prepared


def init_runtimes(threads: int | None) -> RuntimeOptions:
    """Runtime options for this job (all cores unless ``threads`` is given)."""
    return RuntimeOptions(threads)


@dataclass
class Variant:
    """One thing to measure: an artifact run by a runtime, with a display name."""

    name: str
    artifact: Artifact
    runtime: str | None = None
    status: str = "validated"
    reason: str | None = None
    validation: dict[str, object] | None = None


def score_outputs(prepared: Prepared, outputs: Outputs, reference: Outputs,
                  labels: np.ndarray | None) -> tuple[dict[str, object] | None, Fidelity]:
    """The task metric (with labels) and the task fidelity against the reference's outputs: the one scoring path
    of every command, so ``quantize`` and ``bench`` give the same numbers for the same variant."""
    return prepared.score(first_output(outputs), labels), task_fidelity(prepared.spec.task, reference, outputs)


def measure_variants(
    variants: list[Variant], prepared: Prepared, data_options: DataOptions, bench: BenchOptions,
    runtime_options: RuntimeOptions, memory: bool = True,
) -> tuple[list[Row], list[str]]:
    """Evaluate (metric, fidelity vs the first variant) and time (interleaved) every variant."""
    spec = prepared.spec
    if spec.fixed_batch is not None and bench.batch > spec.fixed_batch:
        raise InputShapeError(f"{spec.name} takes {spec.fixed_batch} input per call ({spec.signature()}), so it "
                              f"cannot be timed at --batch {bench.batch}", f"use --batch {spec.fixed_batch}")
    runtimes: dict[str, Runtime] = {}
    for v in variants:
        runtimes[v.name] = open_runtime(v.artifact, runtime_options, v.runtime)
    eval_n = data_options.eval_samples or None
    eval_feeds = prepared.feeds("test", eval_n, data_options.eval_batch)
    labels = prepared.labels(eval_n)
    total = sum(len(next(iter(f.values()))) for f in eval_feeds)
    step(f"evaluating {len(variants)} variants on {total} held-out samples of {prepared.data.name}")
    outputs = {name: collect_batches(rt, eval_feeds, total, f"evaluating {name}") for name, rt in runtimes.items()}
    bench_feed = prepared.feeds("test", bench.batch, bench.batch)[0]
    if len(next(iter(bench_feed.values()))) < bench.batch:
        bench_feed = spec.example_inputs(bench.batch)
    shapes = ", ".join(f"{k}{list(a.shape)}" for k, a in bench_feed.items())
    step(f"timing {len(variants)} variants interleaved (batch {bench.batch}, {runtime_options.num_threads} threads; "
         f"{shapes})")
    timings = measure(runtimes, {n: bench_feed for n in runtimes}, bench)
    ref_name = variants[0].name
    ref_metric = None
    rows: list[Row] = []
    inputs = [{"name": k, "shape": list(a.shape), "dtype": str(a.dtype)} for k, a in bench_feed.items()]
    probed = [v for v in variants if memory and bench.memory and v.artifact.path is not None]
    found = peak_memories([(runtimes[v.name].name, v.artifact.path, inputs, runtime_options.num_threads,
                            runtime_options.inference_precision, v.artifact.precision) for v in probed])
    memories = {v.name: m for v, m in zip(probed, found)}
    for v in variants:
        metric, fid = score_outputs(prepared, outputs[v.name], outputs[ref_name], labels)
        if metric is not None:
            ref_metric = ref_metric if ref_metric is not None else metric["value"]
        mem = memories.get(v.name)
        rt = runtimes[v.name]
        rows.append(Row(
            variant=v.name, format=str(v.artifact.format), precision=v.artifact.precision, runtime=rt.name,
            execution=rt.describe(),
            device=runtime_options.device, status=v.status, path=v.artifact.path.name if v.artifact.path else None,
            size_bytes=v.artifact.size_bytes, params=prepared.params, macs=prepared.macs,
            latency=timings[v.name].to_json(), peak_memory=mem, metric=metric,
            metric_delta=None if metric is None or ref_metric is None else round(metric["value"] - ref_metric, 6),
            fidelity=fid.to_json(), validation=v.validation, reason=v.reason,
            pipeline=[r.stage for r in v.artifact.lineage], runtime_info=rt.describe(),
        ))
    ref = rows[0]
    for r in rows:
        r.speedup_vs_reference = round(ref.latency["p50_ms"] / r.latency["p50_ms"], 3)
        if ref.size_bytes and r.size_bytes:
            r.size_ratio_vs_reference = round(r.size_bytes / ref.size_bytes, 4)
    diagnosis = diagnose(variants, rows, prepared, bench)
    for rt in runtimes.values():
        rt.close()
    return rows, diagnosis


SLOW_THRESHOLD = 1.15  # a quantized variant less than 15% faster than fp32 gets explained


def diagnose(variants: list[Variant], rows: list[Row], prepared: Prepared, bench: BenchOptions) -> list[str]:
    """Explain every quantized ONNX variant that is not clearly faster than the fp32 reference."""
    out: list[str] = []
    ref = variants[0]
    if str(ref.artifact.format) != "onnx":
        return out
    ref_census = onnx_op_census(ref.artifact.path)  # type: ignore[arg-type]
    for v, row in zip(variants[1:], rows[1:]):
        if str(v.artifact.format) != "onnx" or v.artifact.precision == "fp32":
            continue
        census = onnx_op_census(v.artifact.path, float16=v.artifact.precision == "fp16")  # type: ignore[arg-type]
        row.validation = {**(row.validation or {}), "optimized_ops": summarize_census(census)}
        if (row.speedup_vs_reference or 0) < SLOW_THRESHOLD:
            qparams = next((r.params for r in reversed(v.artifact.lineage) if r.stage == "quantize"), {})
            out += explain_slow_quantized(v.artifact.precision, row.speedup_vs_reference or 0, census, ref_census,
                                          bench.batch, prepared.macs, qparams)
    return out


def model_summary(prepared: Prepared) -> dict[str, object]:
    spec = prepared.spec
    first = prepared.artifact.lineage[0] if prepared.artifact.lineage else None
    return {
        "name": spec.name, "family": spec.card.family, "task": spec.task, "signature": spec.signature(),
        "params": prepared.params, "macs": prepared.macs, "paper": spec.card.paper or None,
        "weights": (first.effect.get("weights") if first else None) or "n/a",
        "mean": spec.preprocess.mean, "std": spec.preprocess.std,
    }


def data_summary(prepared: Prepared, data_options: DataOptions, calib: int | None) -> dict[str, object]:
    n_test = len(prepared.data.test)
    return {
        "name": prepared.data.name, "labelled": prepared.labelled,
        "calibration_samples": calib, "evaluation_samples": min(n_test, data_options.eval_samples or n_test),
        "metric": prepared.metric_name,
        **({"provenance": prepared.data.provenance, "synthetic": prepared.data.synthetic}
           if prepared.data.kind == FEEDS_KIND else {}),
    }


def new_report(command: str, prepared: Prepared, data_options: DataOptions, calib: int | None,
               bench: BenchOptions) -> Report:
    from dataclasses import asdict

    return Report(command=command, model=model_summary(prepared), data=data_summary(prepared, data_options, calib),
                  environment=environment(), benchmark=asdict(bench), notes=list(prepared.notes))


def write_report(report: Report, folder: Path, lineage: dict[str, list[dict[str, object]]]) -> None:
    import json

    (folder / "report.json").write_text(report.dumps())
    (folder / "report.md").write_text(report.to_markdown())
    (folder / "lineage.json").write_text(json.dumps(lineage, indent=2, default=str))
