"""Every CLI option that no other test passes reaches what the run records (lineage.json, report.json, the
checkpoint, zoo-matrix.json), or, where nothing records it, shows its effect.

A few cheap runs (small_cnn on the 8x8 digits data, 1 s benchmarks) each pass many options at once; each
(command, option) is one parametrized case that checks its own part of a run's output. A run happens on the
first case that needs it and is shared by the rest of the module.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch

FAST = ("--data", "digits", "--eval-samples", "16", "--bench-seconds", "1")
TRAIN = ("--train-samples", "64", "--batch-size", "32")


@dataclass
class Run:
    """One CLI run's outputs: the folder (or file) it wrote and what it printed."""

    out: Path
    code: int
    stdout: str
    stderr: str
    extra: dict[str, Any] = field(default_factory=dict)

    def json(self, name: str) -> Any:
        return json.loads((self.out / name).read_text())

    def lineage(self, artifact: str) -> dict[str, dict[str, Any]]:
        """The lineage records of one artifact, by stage name."""
        return {rec["stage"]: rec for rec in self.json("lineage.json")[artifact]}

    def report(self) -> dict[str, Any]:
        return self.json("report.json")


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli-options")


_RUNS: dict[str, Run] = {}
GROUPS: dict[str, Callable[..., Run]] = {}


def group(fn: Callable[..., Run]) -> Callable[..., Run]:
    GROUPS[fn.__name__] = fn
    return fn


_FAILED: dict[str, BaseException] = {}


def get(name: str, cli, work: Path) -> Run:
    """The run ``name``, done once for the module (a failed or skipped run is not retried by later cases).
    Torch's thread count is restored afterwards: --threads sets it for the whole (test) process."""
    if name in _FAILED:
        raise _FAILED[name]
    if name not in _RUNS:
        threads = torch.get_num_threads()
        try:
            _RUNS[name] = GROUPS[name](cli, work)
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # failures, and pytest's skip outcome (openvino not installed)
            _FAILED[name] = e
            raise
        finally:
            torch.set_num_threads(threads)
    return _RUNS[name]


def _stale(path: Path) -> Path:
    """An existing output with a file inside that --overwrite must replace."""
    path.mkdir(parents=True)
    (path / "stale.txt").write_text("from an earlier run")
    return path


def _ok(r, out: Path, **extra) -> Run:
    assert r.code == 0, r.err
    return Run(out, r.code, r.out, r.err, extra)


# ---- the runs ------------------------------------------------------------------------------------------
@group
def train(cli, work: Path) -> Run:
    """Five short trainings that differ in one option each; the first also passes --threads and --overwrite."""
    before = torch.get_num_threads()
    ckpts = {}
    try:
        variants = {"base": ("sgd", "3", "0.01"), "again": ("sgd", "3", "0.01"), "seed": ("sgd", "4", "0.01"),
                    "optimizer": ("adamw", "3", "0.01"), "lr": ("sgd", "3", "0.02")}
        for name, (opt, seed, lr) in variants.items():
            ckpt = work / "train" / f"{name}.pt"
            extra: tuple[str, ...] = ()
            if name == "base":
                ckpt.parent.mkdir(parents=True)
                ckpt.write_bytes(b"stale checkpoint")
                extra = ("--threads", "1", "--overwrite")
            r = cli("train", "--model", "small_cnn", "--data", "digits", "--train-samples", "128", "--batch-size", "64",
                    "--optimizer", opt, "--seed", seed, "--lr", lr, *extra, "--out", ckpt)
            assert r.code == 0, r.err
            ckpts[name] = ckpt
            if name == "base":
                threads_after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    return Run(work / "train", 0, "", "", {"ckpts": ckpts, "threads_after": threads_after})


@group
def quantize_onnx(cli, work: Path) -> Run:
    out = _stale(work / "q")
    r = cli("quantize", "--model", "small_cnn", *FAST, "--calib-samples", "8", "--quant-format", "qdq",
            "--no-per-channel", "--reduce-range", "off", "--threads", "1", "--exporter", "torchscript", "--opset", "17",
            "--batch", "2", "--overwrite", "--quiet", "--out", out)
    return _ok(r, out)


@group
def quantize_openvino(cli, work: Path) -> Run:
    pytest.importorskip("openvino")
    out = work / "qov"
    r = cli("quantize", "--model", "small_cnn", *FAST, "--calib-samples", "8", "--backend", "openvino",
            "--exporter", "torch", "--no-fast-bias-correction", "--ignore", "type:Conv2d",
            "--inference-precision", "default", "--threads", "1", "--out", out)
    return _ok(r, out)


@group
def export(cli, work: Path) -> Run:
    out = work / "export" / "m.onnx"
    out.parent.mkdir()
    out.write_bytes(b"stale")
    r = cli("export", "--model", "small_cnn", "--data", "digits", "--exporter", "torchscript", "--opset", "16",
            "--overwrite", "--json", "--out", out)
    return _ok(r, out)


@group
def bench(cli, work: Path) -> Run:
    model = get("export", cli, work).out
    out = _stale(work / "bench")
    r = cli("bench", model, "--threads", "1", "--bench-seconds", "1", "--eval-samples", "8", "--overwrite", "--out", out)
    return _ok(r, out)


@group
def report(cli, work: Path) -> Run:
    runs = [get("quantize_onnx", cli, work).out, get("bench", cli, work).out]
    out = _stale(work / "merged")
    r = cli("report", *runs, "--overwrite", "--out", out)
    return _ok(r, out)


@group
def prune(cli, work: Path) -> Run:
    ckpt = get("train", cli, work).extra["ckpts"]["base"]
    out = _stale(work / "prune")
    r = cli("prune", "--model", "small_cnn", "--weights", ckpt, *FAST, "--ratio", "0.5", "--global",
            "--importance", "bn_scale", "--ignore", "features.2.0", "--max-layer-ratio", "0.6", "--round-to", "8",
            "--distill-epochs", "1", *TRAIN, "--lr", "0.001", "--temperature", "2", "--alpha", "0.7",
            "--batch", "2", "--threads", "1", "--overwrite", "--out", out)
    return _ok(r, out)


@group
def depthwise(cli, work: Path) -> Run:
    ckpt = get("train", cli, work).extra["ckpts"]["base"]
    out = _stale(work / "depthwise")
    r = cli("depthwise", "--model", "small_cnn", "--weights", ckpt, *FAST, "--scope", r"re:features\.[024]\.0",
            "--ignore", "features.4.0", "--init", "random", "--min-in-channels", "16",
            "--distill-epochs", "1", *TRAIN, "--lr", "0.001", "--temperature", "3", "--alpha", "0.6", "--nproc", "1",
            "--batch", "2", "--threads", "1", "--overwrite", "--out", out)
    return _ok(r, out)


@group
def distill(cli, work: Path) -> Run:
    ckpt = get("train", cli, work).extra["ckpts"]["base"]
    out = _stale(work / "distill")
    r = cli("distill", "--model", "small_cnn", "--weights", ckpt, "--teacher-weights", ckpt, *FAST, *TRAIN,
            "--optimizer", "sgd", "--seed", "5", "--temperature", "3", "--alpha", "0.4",
            "--feature", "features.2:features.2", "--feature-weight", "0.25", "--device", "cpu",
            "--batch", "2", "--threads", "1", "--overwrite", "--out", out)
    return _ok(r, out)


@group
def pipeline(cli, work: Path) -> Run:
    """Every step kind in one chain, with the step options no other test passes."""
    ckpt = get("train", cli, work).extra["ckpts"]["base"]
    out = _stale(work / "pipeline")
    r = cli("pipeline", "--model", "small_cnn", "--weights", ckpt, *FAST,
            "--steps", "prune,depthwise,distill,export,quantize",
            "--ratio", "0.25", "--prune-method", "structured", "--importance", "bn_scale", "--uniform",
            "--prune-ignore", "features.0.0", "--prune-steps", "2", "--max-layer-ratio", "0.5", "--round-to", "4",
            "--finetune-epochs", "1",
            "--kernel", "3", "--depthwise-scope", r"re:features\.[24]\.0", "--depthwise-ignore", "features.4.0",
            "--init", "random", "--min-in-channels", "2",
            "--teacher", "small_cnn", "--teacher-weights", ckpt, "--epochs", "1", *TRAIN, "--lr", "0.003",
            "--optimizer", "sgd", "--seed", "7", "--temperature", "2.5", "--alpha", "0.3",
            "--feature", "features.2:features.2", "--feature-weight", "0.25", "--nproc", "1", "--device", "cpu",
            "--backend", "onnxruntime", "--exporter", "torchscript", "--opset", "17", "--quant-method", "dynamic",
            "--calib-samples", "8", "--batch", "2", "--threads", "1", "--overwrite", "--out", out)
    return _ok(r, out)


@group
def pipeline_static(cli, work: Path) -> Run:
    """The options that need the other branch: unstructured pruning, static int8 in QDQ form."""
    out = work / "pipeline_static"
    r = cli("pipeline", "--model", "small_cnn", *FAST, "--steps", "prune,export,quantize",
            "--prune-method", "unstructured", "--ratio", "0.3", "--quant-method", "static", "--calibration", "percentile",
            "--quant-format", "qdq", "--calib-samples", "8", "--out", out)
    return _ok(r, out)


@group
def zoo_matrix(cli, work: Path) -> Run:
    out = work / "matrix"
    r = cli("zoo", "matrix", "--models", "gcn*", "--full", "--formats", "onnx", "--int8", "--threads", "1",
            "--quiet", "--out", out, "--json")
    return _ok(r, out)


# ---- checks ---------------------------------------------------------------------------------------------
def _rows(run: Run) -> list[dict[str, Any]]:
    return run.report()["rows"]


def _threads_1(run: Run) -> None:
    rows = _rows(run)
    assert rows and all(row["latency"]["threads"] == 1 and row["execution"]["threads"] == 1 for row in rows), rows


def _batch_2(run: Run) -> None:
    assert run.report()["benchmark"]["batch"] == 2
    assert all(row["latency"]["batch"] == 2 for row in _rows(run))


def _overwritten(run: Run) -> None:
    assert not (run.out / "stale.txt").exists() and (run.out / "report.json").exists()


def check_report_overwrite(run: Run) -> None:
    _overwritten(run)
    assert len(run.report()["rows"]) == 3  # 2 quantize rows + 1 bench row, merged


def _state(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, weights_only=False)["state_dict"]


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


TRAIN_VALUES = {"optimizer": ("sgd", "adamw"), "seed": (3, 4), "lr": (0.01, 0.02)}  # base's value, the variant's


def check_train_changes_weights(option: str) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        ckpts = run.extra["ckpts"]
        base = _state(ckpts["base"])
        assert _same(base, _state(ckpts["again"]))  # the same options give the same weights ...
        assert not _same(base, _state(ckpts[option]))  # ... so a difference is this option's effect
        recorded = [torch.load(ckpts[k], weights_only=False)["dlcompress"]["training"][option] for k in ("base", option)]
        assert tuple(recorded) == TRAIN_VALUES[option]  # and the checkpoint says how it was trained
    return check


def check_train_threads(run: Run) -> None:
    assert run.extra["threads_after"] == 1  # torch's intra-op threads while training (the process's setting)


def check_train_overwrite(run: Run) -> None:
    ckpt = run.extra["ckpts"]["base"]
    assert torch.load(ckpt, weights_only=False)["dlcompress"]["dataset"] == "digits"  # the stale bytes are gone


def _prune_params(run: Run, artifact: str = "model.prune.pt") -> dict[str, Any]:
    return run.lineage(artifact)["prune"]["params"]


def _distill_params(run: Run, artifact: str = "model.distill.pt") -> dict[str, Any]:
    return run.lineage(artifact)["distill"]["params"]


def _depthwise_params(run: Run) -> dict[str, Any]:
    return run.lineage("model.depthwise.pt")["depthwise"]["params"]


def _channels(run: Run, checkpoint: str) -> dict[str, int]:
    from dlcompress.recipes.loading import load_model
    from dlcompress.toolkit.data import load_dataset
    from dlcompress.toolkit.model_options import ModelOptions

    art = load_model("small_cnn", ModelOptions(weights=str(run.out / checkpoint)), load_dataset("digits"))
    return {n: m.out_channels for n, m in art.model.named_modules() if isinstance(m, torch.nn.Conv2d)}


def check_round_to(run: Run) -> None:
    assert _prune_params(run)["round_to"] == 8
    pruned = {n: c for n, c in _channels(run, "model.prune.pt").items() if n != "features.2.0"}
    assert all(c % 8 == 0 for c in pruned.values()) and sum(pruned.values()) < 32 + 128, pruned


def check_prune_ignore(run: Run) -> None:
    assert _prune_params(run)["ignore"] == ["features.2.0"]
    assert _channels(run, "model.prune.pt")["features.2.0"] == 64  # left alone (the original width)


def check_replaced_layers(run: Run) -> None:
    p = _depthwise_params(run)
    assert p["scope"] == [r"re:features\.[024]\.0"] and p["ignore"] == ["features.4.0"]
    assert p["min_in_channels"] == 16
    replaced = [layer["name"] for layer in run.lineage("model.depthwise.pt")["depthwise"]["effect"]["layers"]]
    # features.0.0 (1 input channel) is under --min-in-channels 16; features.4.0 is ignored
    assert replaced == ["features.2.0"]


def _pipeline_checks() -> dict[str, Callable[[Run], None]]:
    prune_p = lambda r: _prune_params(r, "model.int8.onnx")
    dist_p = lambda r: _distill_params(r, "model.int8.onnx")
    dw_p = lambda r: r.lineage("model.int8.onnx")["depthwise"]["params"]
    return {
        "--prune-method": lambda r: _eq(prune_p(r)["method"], "structured")
        and _eq(_prune_params(_RUNS["pipeline_static"], "model.int8.onnx")["method"], "unstructured"),
        "--importance": lambda r: _eq(prune_p(r)["importance"], "bn_scale"),
        "--uniform": lambda r: _eq(prune_p(r)["global_pruning"], False),
        "--prune-ignore": lambda r: _eq(prune_p(r)["ignore"], ["features.0.0"]),
        "--prune-steps": lambda r: _eq(prune_p(r)["steps"], 2)
        and _eq(len(r.lineage("model.int8.onnx")["prune"]["effect"]["steps"]), 2),
        "--max-layer-ratio": lambda r: _eq(prune_p(r)["max_layer_ratio"], 0.5),
        "--round-to": lambda r: _eq(prune_p(r)["round_to"], 4),
        "--finetune-epochs": lambda r: _eq(all("finetune" in s for s in
                                               r.lineage("model.int8.onnx")["prune"]["effect"]["steps"]), True),
        "--kernel": lambda r: _eq(dw_p(r)["kernels"], [3]),
        "--depthwise-scope": lambda r: _eq(dw_p(r)["scope"], [r"re:features\.[24]\.0"]),
        "--depthwise-ignore": lambda r: _eq(dw_p(r)["ignore"], ["features.4.0"]),
        "--init": lambda r: _eq(dw_p(r)["init"], "random"),
        "--min-in-channels": lambda r: _eq(dw_p(r)["min_in_channels"], 2),
        "--teacher": lambda r: _eq(r.lineage("model.int8.onnx")["distill"]["effect"]["teacher"], "small_cnn"),
        # not recorded (only the teacher's name is); a teacher without trained weights is refused, so the distill
        # step having run and measured its teacher shows the weights reached it
        "--teacher-weights": lambda r: _eq(isinstance(r.lineage("model.int8.onnx")["distill"]["effect"]["teacher_top1"],
                                                      float), True),
        "--batch-size": lambda r: _eq(dist_p(r)["batch_size"], 32),
        "--lr": lambda r: _eq(dist_p(r)["lr"], 0.003),
        "--optimizer": lambda r: _eq(dist_p(r)["optimizer"], "sgd"),
        "--seed": lambda r: _eq(dist_p(r)["seed"], 7),
        "--temperature": lambda r: _eq(dist_p(r)["temperature"], 2.5),
        "--alpha": lambda r: _eq(dist_p(r)["alpha"], 0.3),
        "--feature": lambda r: _eq(dist_p(r)["features"], [["features.2", "features.2"]]),
        "--feature-weight": lambda r: _eq(dist_p(r)["feature_weight"], 0.25),
        "--nproc": lambda r: _eq(dist_p(r)["processes"], 1),
        "--backend": lambda r: _eq(r.lineage("model.int8.onnx")["quantize"]["params"]["backend"], "onnxruntime"),
        "--exporter": lambda r: _eq(r.lineage("model.int8.onnx")["export"]["params"]["route"], "torchscript"),
        "--opset": lambda r: _eq(r.lineage("model.int8.onnx")["export"]["params"]["opset"], 17)
        and _eq(_onnx_opset(r.out / "model.onnx"), 17),
        "--quant-method": lambda r: _eq(r.lineage("model.int8.onnx")["quantize"]["params"]["method"], "dynamic")
        and _eq(_RUNS["pipeline_static"].lineage("model.int8.onnx")["quantize"]["params"]["method"], "static"),
        "--calib-samples": lambda r: _eq(_RUNS["pipeline_static"].lineage("model.int8.onnx")["quantize"]["params"]
                                         ["calibration_samples"], 8),
        "--batch": _batch_2,
        "--threads": _threads_1,
        "--overwrite": _overwritten,
    }


def _eq(a: Any, b: Any) -> bool:
    assert a == b, (a, b)
    return True


def _onnx_opset(path: Path) -> int:
    import onnx

    return next(o.version for o in onnx.load(str(path), load_external_data=False).opset_import if o.domain in ("", "ai.onnx"))


def _quant(run: Run, artifact: str = "model.int8.onnx") -> dict[str, Any]:
    return run.lineage(artifact)["quantize"]["params"]


def _export_lineage(run: Run) -> dict[str, Any]:
    return {rec["stage"]: rec for rec in json.loads(run.stdout)["lineage"]}["export"]["params"]


def _matrix(run: Run) -> dict[str, Any]:
    return json.loads(run.stdout)


CASES: list[tuple[str, str, Callable[[Run], None]]] = [
    # train: each is written into the checkpoint's metadata, and its effect on the weights shows it reached training
    ("train", "--optimizer", check_train_changes_weights("optimizer")),
    ("train", "--seed", check_train_changes_weights("seed")),
    ("train", "--lr", check_train_changes_weights("lr")),
    ("train", "--threads", check_train_threads),
    ("train", "--overwrite", check_train_overwrite),
    # quantize, ONNX Runtime
    ("quantize_onnx", "--quant-format", lambda r: _eq(_quant(r)["quant_format"], "qdq")),
    ("quantize_onnx", "--no-per-channel", lambda r: _eq(_quant(r)["per_channel"], False)),
    ("quantize_onnx", "--reduce-range", lambda r: _eq(_quant(r)["reduce_range"], False)),
    ("quantize_onnx", "--exporter", lambda r: _eq(r.lineage("model.onnx")["export"]["params"]["route"], "torchscript")),
    ("quantize_onnx", "--opset", lambda r: _eq(r.lineage("model.onnx")["export"]["params"]["opset"], 17)
     and _eq(_onnx_opset(r.out / "model.onnx"), 17)),
    ("quantize_onnx", "--threads", _threads_1),
    ("quantize_onnx", "--batch", _batch_2),
    ("quantize_onnx", "--overwrite", _overwritten),
    ("quantize_onnx", "--quiet", lambda r: _eq(r.stderr, "")),
    # quantize, OpenVINO
    ("quantize_openvino", "--no-fast-bias-correction",
     lambda r: _eq(_quant(r, "model.int8.xml")["fast_bias_correction"], False)),
    ("quantize_openvino", "--ignore", lambda r: _eq(_quant(r, "model.int8.xml")["ignored_scope"], ["type:Conv2d"])),
    ("quantize_openvino", "--inference-precision",
     lambda r: _eq({row["execution"]["requested_precision"] for row in _rows(r)}, {"default"})),
    ("quantize_openvino", "--exporter", lambda r: _eq(r.lineage("model.xml")["export"]["params"]["route"], "torch")),
    ("quantize_openvino", "--threads", _threads_1),
    # export
    ("export", "--exporter", lambda r: _eq(_export_lineage(r)["route"], "torchscript")),
    ("export", "--opset", lambda r: _eq(_export_lineage(r)["opset"], 16) and _eq(_onnx_opset(r.out), 16)),
    ("export", "--json", lambda r: _eq(json.loads(r.stdout)["validation"]["passed"], True)),
    ("export", "--overwrite", lambda r: _eq(r.out.read_bytes()[:5] != b"stale" and r.out.stat().st_size > 1000, True)),
    # bench (model files)
    ("bench", "--threads", _threads_1),
    ("bench", "--overwrite", _overwritten),
    # report
    ("report", "--overwrite", check_report_overwrite),
    # prune
    ("prune", "--global", lambda r: _eq(_prune_params(r)["global_pruning"], True)),
    ("prune", "--importance", lambda r: _eq(_prune_params(r)["importance"], "bn_scale")),
    ("prune", "--ignore", check_prune_ignore),
    ("prune", "--max-layer-ratio", lambda r: _eq(_prune_params(r)["max_layer_ratio"], 0.6)),
    ("prune", "--round-to", check_round_to),
    ("prune", "--distill-epochs", lambda r: _eq(_distill_params(r)["epochs"], 1)),
    ("prune", "--batch-size", lambda r: _eq(_distill_params(r)["batch_size"], 32)),
    ("prune", "--lr", lambda r: _eq(_distill_params(r)["lr"], 0.001)),
    ("prune", "--temperature", lambda r: _eq(_distill_params(r)["temperature"], 2.0)),
    ("prune", "--alpha", lambda r: _eq(_distill_params(r)["alpha"], 0.7)),
    ("prune", "--batch", _batch_2),
    ("prune", "--threads", _threads_1),
    ("prune", "--overwrite", _overwritten),
    # depthwise
    ("depthwise", "--scope", check_replaced_layers),
    ("depthwise", "--ignore", check_replaced_layers),
    ("depthwise", "--min-in-channels", check_replaced_layers),
    ("depthwise", "--init", lambda r: _eq(_depthwise_params(r)["init"], "random")),
    ("depthwise", "--batch-size", lambda r: _eq(_distill_params(r)["batch_size"], 32)),
    ("depthwise", "--lr", lambda r: _eq(_distill_params(r)["lr"], 0.001)),
    ("depthwise", "--temperature", lambda r: _eq(_distill_params(r)["temperature"], 3.0)),
    ("depthwise", "--alpha", lambda r: _eq(_distill_params(r)["alpha"], 0.6)),
    ("depthwise", "--nproc", lambda r: _eq(_distill_params(r)["processes"], 1)),
    ("depthwise", "--batch", _batch_2),
    ("depthwise", "--threads", _threads_1),
    ("depthwise", "--overwrite", _overwritten),
    # distill
    ("distill", "--weights", lambda r: _eq(r.lineage("model.distill.pt")["build"]["effect"]["weights"],
                                            str(_RUNS["train"].extra["ckpts"]["base"]))),
    ("distill", "--optimizer", lambda r: _eq(_distill_params(r)["optimizer"], "sgd")),
    ("distill", "--seed", lambda r: _eq(_distill_params(r)["seed"], 5)),
    ("distill", "--temperature", lambda r: _eq(_distill_params(r)["temperature"], 3.0)),
    ("distill", "--alpha", lambda r: _eq(_distill_params(r)["alpha"], 0.4)),
    ("distill", "--feature", lambda r: _eq(_distill_params(r)["features"], [["features.2", "features.2"]])),
    ("distill", "--feature-weight", lambda r: _eq(_distill_params(r)["feature_weight"], 0.25)),
    ("distill", "--batch", _batch_2),
    ("distill", "--threads", _threads_1),
    ("distill", "--overwrite", _overwritten),
    # pipeline
    *(("pipeline", opt, check) for opt, check in _pipeline_checks().items()),
    # zoo matrix
    ("zoo_matrix", "--models", lambda r: _eq([e["name"] for e in _matrix(r)["entries"]], ["gcn"])),
    ("zoo_matrix", "--full", lambda r: _eq(_matrix(r)["options"]["full"], True)
     and _eq([e["tiny_of"] for e in _matrix(r)["entries"]], [None])),
    ("zoo_matrix", "--formats", lambda r: _eq({c["format"] for c in _matrix(r)["cells"]}, {"onnx"})),
    ("zoo_matrix", "--int8", lambda r: _eq(all(c["int8"] is not None for c in _matrix(r)["cells"]), True)),
    ("zoo_matrix", "--threads", lambda r: _eq(_matrix(r)["options"]["threads"], 1)),
    ("zoo_matrix", "--out", lambda r: _eq(json.loads((r.out / "zoo-matrix.json").read_text())["options"],
                                          _matrix(r)["options"]) and _eq((r.out / "zoo-matrix.md").exists(), True)),
    ("zoo_matrix", "--json", lambda r: _eq(_matrix(r)["schema_version"], 1)),
]


@pytest.mark.parametrize("run_name,option,check", CASES, ids=[f"{g}{o}" for g, o, _ in CASES])
def test_option_reaches_the_record(cli, work, run_name, option, check):
    for dep in {"pipeline": ("pipeline_static",), "distill": ("train",)}.get(run_name, ()):
        get(dep, cli, work)
    run = get(run_name, cli, work)
    check(run)


def test_distill_device_reaches_the_training(cli, work, tmp_path):
    """--device is not recorded anywhere; asking for CUDA where torch has none is refused at distillation."""
    if torch.cuda.is_available():
        pytest.skip("CUDA present: --device cuda would train on it")
    ckpt = get("train", cli, work).extra["ckpts"]["base"]
    r = cli("distill", "--model", "small_cnn", "--teacher-weights", ckpt, "--data", "digits", *TRAIN,
            "--eval-samples", "8", "--device", "cuda", "--out", tmp_path / "o")
    assert r.code == 2 and "--device cuda" in r.err and "no CUDA device" in r.err, r.err
    assert not (tmp_path / "o").exists()


def test_zoo_show_json(cli):
    r = cli("zoo", "show", "small_cnn", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["name"] == "small_cnn" and d["params"] == 94186


def test_max_layer_ratio_caps_every_layer(cli, tmp_path):
    import math

    out = tmp_path / "p"
    r = cli("prune", *FAST, "--model", "small_cnn", "--ratio", "0.3", "--global", "--max-layer-ratio", "0.35",
            "--out", out)
    assert r.code == 0, r.err
    run = Run(out, r.code, r.out, r.err)
    original = {"features.0.0": 32, "features.2.0": 64, "features.4.0": 128}
    kept = _channels(run, "model.prune.pt")
    assert {n: kept[n] for n in original} == {n: max(kept[n], math.ceil(c * (1 - 0.35))) for n, c in original.items()}
