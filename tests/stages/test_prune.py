"""The prune stage: structured (Torch-Pruning) and unstructured, on real models; plans replay; the CLI."""

import json

import pytest
import torch

from dlcompress.recipes.loading import load_model
from dlcompress.toolkit.data import ImageTransform, load_dataset
from dlcompress.toolkit.errors import DLCompressError, UnsupportedError
from dlcompress.toolkit.model_options import ModelOptions
from dlcompress.toolkit.scope import Scope
from dlcompress.toolkit.stages.prune import PruneOptions, prune, replay_plan
from dlcompress.toolkit.stages.structure import apply_structure, example_inputs
from dlcompress.toolkit.training import evaluate_top1
from tests.checks import check_latency_summary


@pytest.fixture(scope="module")
def fmnist():
    return load_dataset("fashion-mnist")


@pytest.fixture(scope="module")
def small(fmnist):
    return load_model("small_cnn", None, fmnist)


@pytest.fixture(scope="module")
def resnet18(fmnist):
    art = load_model("resnet18", None, fmnist)  # adapted: 1x32x32, 10 classes
    assert art.spec.image_shape == (1, 32, 32)
    return art


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_uniform_ratio_removes_channels_and_keeps_input(small):
    before = _state(small.model)
    out = prune(small, PruneOptions(ratio=0.5))
    # the input artifact is untouched
    assert all(torch.equal(before[k], v) for k, v in small.model.state_dict().items())
    rec = out.lineage[-1]
    assert rec.stage == "prune" and rec.params["ratio"] == 0.5 and rec.params["ignored_layers"] == ["classifier"]
    e = rec.effect
    assert e["params_after"] < 0.4 * e["params_before"]
    assert 0.15 < e["macs_ratio"] < 0.35  # half the channels on both sides of each conv: ~1/4 of the MACs
    layers = {x["name"]: x for x in e["layers"]}
    assert layers["features.2.0"]["out_channels"] == [64, 32]
    assert layers["classifier"]["out_channels"] == [10, 10]  # the head is never pruned
    x = example_inputs(small, 4)[0]
    assert out.model(x).shape == (4, 10)


@pytest.mark.parametrize("importance,global_pruning", [
    ("magnitude", False), ("magnitude", True), ("bn_scale", False), ("taylor", True),
], ids=["magnitude-uniform", "magnitude-global", "bn_scale-uniform", "taylor-global"])
def test_target_macs_is_reached_without_overshooting(resnet18, fmnist, importance, global_pruning):
    batches = None
    if importance == "taylor":
        t = ImageTransform(1, (32, 32), resnet18.spec.preprocess.mean, resnet18.spec.preprocess.std)
        batches = lambda: [(torch.from_numpy(t(fmnist.train.batch(range(i, i + 16)))),  # noqa: E731
                            torch.from_numpy(fmnist.train.labels[i:i + 16])) for i in (0, 16)]
    out = prune(resnet18, PruneOptions(target_macs=0.5, importance=importance, global_pruning=global_pruning),
                batches=batches)
    e = out.lineage[-1].effect
    assert e["target_reached"] is True
    assert 0.40 <= e["macs_ratio"] <= 0.5
    assert e["params_after"] < e["params_before"]


def test_plan_replays_on_a_fresh_model(resnet18):
    out = prune(resnet18, PruneOptions(target_macs=0.5, global_pruning=True, steps=2))
    plan = json.loads(json.dumps(out.lineage[-1].effect["structure"]))  # survives JSON
    assert plan["kind"] == "prune" and plan["history"]
    steps = out.lineage[-1].effect["steps"]
    assert [s["step"] for s in steps] == [1, 2] and steps[0]["macs_ratio"] > steps[1]["macs_ratio"]
    fresh = resnet18.spec.build().eval()
    replay_plan(fresh, plan, example_inputs(resnet18))
    mine, theirs = fresh.state_dict(), out.model.state_dict()
    assert {k: v.shape for k, v in mine.items()} == {k: v.shape for k, v in theirs.items()}
    fresh.load_state_dict(theirs)
    x = example_inputs(resnet18, 2)[0]
    with torch.no_grad():
        assert torch.allclose(fresh(x), out.model(x), atol=1e-5)
    # the generic structure replay (what checkpoint loading uses) does the same
    again = apply_structure(resnet18.spec.build(), [plan], example_inputs(resnet18))
    again.load_state_dict(theirs)


def test_ignored_scope_is_plain_data(small):
    out = prune(small, PruneOptions(ratio=0.5, ignore=Scope.parse(["re:features\\.2\\..*"])))
    layers = {x["name"]: x for x in out.lineage[-1].effect["layers"]}
    assert layers["features.2.0"]["out_channels"] == [64, 64]
    assert layers["features.4.0"]["out_channels"] == [128, 64]
    assert out.lineage[-1].params["ignore"] == ["re:features\\.2\\..*"]


def test_bad_scope_and_options_are_user_errors(small):
    with pytest.raises(DLCompressError, match="did you mean .*'features.2.0'"):
        prune(small, PruneOptions(ratio=0.5, ignore=Scope.parse(["features.2.O"])))
    with pytest.raises(DLCompressError, match="matches no layer"):
        prune(small, PruneOptions(ratio=0.5, ignore=Scope.parse(["type:LSTM"])))
    with pytest.raises(DLCompressError, match="exactly one"):
        PruneOptions(ratio=0.5, target_macs=0.5)
    with pytest.raises(DLCompressError, match="exactly one"):
        PruneOptions()
    with pytest.raises(UnsupportedError, match="structured"):
        PruneOptions(method="unstructured", target_macs=0.5)
    with pytest.raises(DLCompressError, match="between 0 and 1"):
        PruneOptions(ratio=1.5)
    with pytest.raises(DLCompressError, match="unknown importance criterion"):
        PruneOptions(ratio=0.5, importance="lamp2")
    with pytest.raises(DLCompressError, match="needs labelled data"):
        prune(small, PruneOptions(ratio=0.5, importance="taylor"))


def test_unstructured_sparsity_is_honest(small):
    out = prune(small, PruneOptions(method="unstructured", ratio=0.6, global_pruning=True, steps=2))
    e = out.lineage[-1].effect
    assert abs(e["sparsity"] - 0.6) < 0.01
    assert e["params_after"] == e["params_before"] and e["macs_after"] == e["macs_before"]  # dense tensors
    assert e["effective_sparse_macs"] < e["macs_before"]
    assert "do not drop" in e["note"]
    w = out.model.features[2][0].weight
    assert float((w == 0).float().mean()) > 0.3
    assert not hasattr(out.model.features[2][0], "weight_orig")  # masks folded into the weights


def test_cli_prune_finetune_then_quantize_the_checkpoint(cli, trained_small_cnn, tmp_path):
    out = tmp_path / "p"
    r = cli("prune", "--model", "small_cnn", "--weights", trained_small_cnn, "--target-macs", "0.5",
            "--prune-steps", "2", "--finetune-epochs", "1", "--train-samples", "1000", "--eval-samples", "500",
            "--bench-seconds", "1", "--out", out, "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    original, pruned = report["rows"]
    assert pruned["macs"] <= 0.5 * original["macs"] and pruned["params"] < original["params"]
    check_latency_summary(original["latency"])
    check_latency_summary(pruned["latency"])
    assert original["latency"]["samples"] == pruned["latency"]["samples"]  # measured in the same interleaved run
    assert pruned["metric"]["value"] > 0.5  # fine-tuned between steps: well above chance (0.1)
    assert {p.name for p in out.iterdir()} == {"model.prune.pt", "plan.prune.json", "report.json", "report.md",
                                                "lineage.json"}
    steps = json.loads((out / "lineage.json").read_text())["model.prune.pt"][-1]["effect"]["steps"]
    assert len(steps) == 2 and all(s["finetune"]["top1"] > 0.3 for s in steps)
    assert "## prune: channels per layer" in (out / "report.md").read_text()
    # the pruned checkpoint reloads on the zoo architecture (its plan is replayed) and quantizes
    art = load_model("small_cnn", ModelOptions(weights=str(out / "model.prune.pt")), load_dataset("fashion-mnist"))
    assert [e["kind"] for e in art.lineage[0].effect["structure"]] == ["prune"]
    t = ImageTransform(1, (28, 28))
    assert evaluate_top1(art.model, load_dataset("fashion-mnist").test.head(500), t) == pytest.approx(
        pruned["metric"]["value"], abs=1e-9)
    q = cli("quantize", "--model", "small_cnn", "--weights", out / "model.prune.pt", "--eval-samples", "300",
            "--bench-seconds", "1", "--data", "fashion-mnist", "--out", tmp_path / "q", "--json")
    assert q.code == 0, q.err
    assert json.loads(q.out)["rows"][1]["precision"] == "int8"
