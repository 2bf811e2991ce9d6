"""``dlcompress pipeline``: step chains are checked, every registered step runs, the report shows each step."""

import json

import pytest

from dlcompress.recipes.loading import load_model
from dlcompress.recipes.pipeline import STEPS, check_steps
from dlcompress.toolkit.data import load_dataset
from dlcompress.toolkit.errors import DLCompressError, UnknownNameError
from dlcompress.toolkit.model_options import ModelOptions
from tests.checks import check_latency_summary

FAST = ("--eval-samples", "300", "--bench-seconds", "1", "--train-samples", "600", "--batch-size", "32")


def test_chain_is_checked_before_any_work():
    assert len(check_steps(("prune", "depthwise", "distill", "export", "quantize"))) == 5
    with pytest.raises(DLCompressError, match="put export before it"):
        check_steps(("prune", "quantize"))
    with pytest.raises(DLCompressError, match="put it before export"):
        check_steps(("export", "prune"))
    with pytest.raises(UnknownNameError, match="did you mean 'distill'"):
        check_steps(("distil",))
    with pytest.raises(DLCompressError, match="no steps"):
        check_steps(())


# Chains that together run every registered step (a new step kind must join one: the guard below).
FULL = "prune,distill,export,quantize"  # test_prune_distill_export_quantize_from_the_cli
CHAINS = {"depthwise,prune,export": ("--kernel", "3", "--ratio", "0.25")}  # composability: prune a depthwise model


def test_every_registered_step_runs_in_a_chain():
    covered = {s for chain in (FULL, *CHAINS) for s in chain.split(",")}
    assert covered == set(STEPS.names())


@pytest.mark.parametrize("steps", sorted(CHAINS))
def test_chain(cli, trained_small_cnn, tmp_path, steps):
    out = tmp_path / "chain"
    r = cli("pipeline", "--model", "small_cnn", "--weights", trained_small_cnn, "--steps", steps, *CHAINS[steps],
            *FAST, "--out", out, "--json")
    assert r.code == 0, r.err
    rows = json.loads(r.out)["rows"]
    names = steps.split(",")
    assert [x["variant"] for x in rows] == ["original", *names[:-1], "onnx"]
    assert rows[-1]["pipeline"] == ["build", *names]
    assert all(x["metric"]["samples"] == 300 for x in rows)
    for x in rows:
        check_latency_summary(x["latency"])
    assert len({x["latency"]["samples"] for x in rows}) == 1  # timed in one interleaved run (measured: 20 each)
    assert rows[2]["macs"] < rows[1]["macs"] < rows[0]["macs"]  # each structural step cut MACs further
    assert (out / "report.md").read_text().count("## Steps") == 1
    reloaded = load_model("small_cnn", ModelOptions(weights=str(out / "model.prune.pt")), load_dataset("fashion-mnist"))
    assert [e["kind"] for e in reloaded.lineage[0].effect["structure"]] == ["depthwise", "prune"]


def test_prune_distill_export_quantize_from_the_cli(cli, trained_small_cnn, tmp_path):
    """The common pipeline as one command; the report shows each step's effect."""
    out = tmp_path / "p"
    r = cli("pipeline", "--model", "small_cnn", "--weights", trained_small_cnn,
            "--steps", "prune,distill,export,quantize", "--target-macs", "0.5", "--epochs", "1",
            "--train-samples", "2000", "--eval-samples", "500", "--bench-seconds", "2", "--out", out)
    assert r.code == 0, r.err
    assert "each step" in r.out and "channels per layer" in r.out
    from dlcompress.benchmarks.report import load_report

    rep = load_report(out)
    original, pruned, distilled, onnx, int8 = rep.rows
    assert [x.variant for x in rep.rows] == ["original", "prune", "distill", "onnx", "int8"]
    assert [x.format for x in rep.rows] == ["torch", "torch", "torch", "onnx", "onnx"]
    assert pruned.macs <= 0.5 * original.macs and distilled.macs == onnx.macs == int8.macs == pruned.macs
    assert distilled.metric["value"] > pruned.metric["value"]  # distillation recovered accuracy
    assert abs(onnx.metric["value"] - distilled.metric["value"]) <= 0.002  # export is faithful
    assert int8.precision == "int8" and int8.size_bytes < 0.5 * onnx.size_bytes
    for x in rep.rows:
        check_latency_summary(x.latency)
    assert len({x.latency["samples"] for x in rep.rows}) == 1  # timed in one interleaved run (measured: 90 each)
    assert int8.pipeline == ["build", "prune", "distill", "export", "quantize"]
    files = {p.name for p in out.iterdir()}
    assert files == {"model.prune.pt", "plan.prune.json", "model.distill.pt", "model.onnx", "model.int8.onnx",
                     "report.json", "report.md", "lineage.json"}
    plan = json.loads((out / "plan.prune.json").read_text())
    assert plan["model"] == "small_cnn" and plan["structure"][0]["kind"] == "prune"
    md = (out / "report.md").read_text()
    assert "| distill | torch |" in md and "MACs vs original" in md
    art = load_model("small_cnn", ModelOptions(weights=str(out / "model.distill.pt")), load_dataset("fashion-mnist"))
    assert [e["kind"] for e in art.lineage[0].effect["structure"]] == ["prune"]


def test_user_errors(cli, trained_small_cnn, tmp_path):
    r = cli("pipeline", "--model", "small_cnn", "--steps", "quantize", "--out", tmp_path / "a")
    assert r.code == 2 and "put export before it" in r.err
    r = cli("pipeline", "--model", "small_cnn", "--steps", "prune", "--out", tmp_path / "b")
    assert r.code == 2 and "exactly one of --ratio and --target-macs" in r.err
    r = cli("pipeline", "--model", "small_cnn", "--weights", trained_small_cnn, "--steps", "distill",
            "--data", "synthetic", "--out", tmp_path / "c")
    assert r.code == 2 and "labelled data" in r.err
    r = cli("pipeline", "--model", "small_cnn", "--steps", "prune", "--ratio", "0.5", "--prune-ignore", "nope",
            "--out", tmp_path / "d")
    assert r.code == 2 and "does not have" in r.err
    assert not list(tmp_path.iterdir())  # nothing half-written
    (tmp_path / "e").mkdir()
    r = cli("pipeline", "--model", "small_cnn", "--steps", "prune", "--ratio", "0.5", "--out", tmp_path / "e")
    assert r.code == 2 and "already exists" in r.err


@pytest.mark.slow
def test_resnet18_prune_distill_export_quantize(cli, tmp_path):
    """Real size: ResNet-18 (1x32x32, 10 classes) trained briefly by dlcompress train, pruned to half its MACs,
    recovered by distillation, exported and quantized in one command (measured on 2,500 training images: top-1
    0.68 trained, 0.38 pruned, 0.75 distilled, 0.76 int8)."""
    ckpt = tmp_path / "r18.pt"
    r = cli("train", "--model", "resnet18", "--epochs", "1", "--train-samples", "2500", "--out", ckpt)
    assert r.code == 0, r.err
    out = tmp_path / "p"
    r = cli("pipeline", "--model", "resnet18", "--weights", ckpt, "--target-macs", "0.5", "--global",
            "--epochs", "1", "--train-samples", "2500", "--eval-samples", "1000", "--bench-seconds", "1",
            "--out", out, "--json")
    assert r.code == 0, r.err
    original, pruned, distilled, onnx, int8 = json.loads(r.out)["rows"]
    assert pruned["macs"] <= 0.5 * original["macs"]
    assert distilled["metric"]["value"] > 0.6 and distilled["metric"]["value"] > pruned["metric"]["value"]
    assert int8["metric"]["value"] > 0.6
