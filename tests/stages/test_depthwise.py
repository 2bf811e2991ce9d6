"""The depthwise stage: SVD initialisation, MAC accounting per layer, scope, replay, and recovery by distillation."""

import json

import pytest
import torch
from torch import nn

from dlcompress.recipes.loading import load_model
from dlcompress.toolkit.data import load_dataset
from dlcompress.toolkit.errors import DLCompressError
from dlcompress.toolkit.model_options import ModelOptions
from dlcompress.toolkit.scope import Scope
from dlcompress.toolkit.stages.depthwise import (
    DepthwiseOptions,
    DepthwiseSeparableConv,
    init_random,
    init_svd,
    replace_depthwise,
)
from dlcompress.toolkit.stages.structure import apply_structure, example_inputs


@pytest.fixture(scope="module")
def resnet18():
    return load_model("resnet18", None, load_dataset("fashion-mnist"))  # adapted: 1x32x32, 10 classes


def test_svd_init_is_exact_when_each_input_channel_is_rank_one():
    torch.manual_seed(0)
    c, m, k = 6, 10, 3
    u, v = torch.randn(c, m), torch.randn(c, k * k)
    weight = torch.einsum("cm,ck->mck", u, v).reshape(m, c, k, k)
    conv = nn.Conv2d(c, m, k, stride=2, padding=1, bias=True)
    with torch.no_grad():
        conv.weight.copy_(weight)
    pair = DepthwiseSeparableConv.like(conv)
    init_svd(pair, conv)
    x = torch.randn(2, c, 9, 9)
    with torch.no_grad():
        assert torch.allclose(pair.effective_weight(), conv.weight, atol=1e-5)
        assert torch.allclose(pair(x), conv(x), atol=1e-4)


def test_svd_init_is_the_better_start():
    torch.manual_seed(1)
    conv = nn.Conv2d(16, 32, 3, padding=1)
    errors = {}
    for name, init in (("svd", init_svd), ("random", init_random)):
        pair = DepthwiseSeparableConv.like(conv)
        init(pair, conv)
        with torch.no_grad():
            errors[name] = float((pair.effective_weight() - conv.weight).norm() / conv.weight.norm())
    assert errors["svd"] < 0.95 < errors["random"]


def test_resnet18_3x3_convs_cut_macs_at_least_5x(resnet18):
    out = replace_depthwise(resnet18, DepthwiseOptions(kernels=(3,)))
    e = out.lineage[-1].effect
    assert e["replaced"] == 16  # every 3x3 conv of the 8 basic blocks
    for layer in e["layers"]:
        (h, w), k2 = layer["out_hw"], layer["kernel"][0] * layer["kernel"][1]
        c, m = layer["in_channels"], layer["out_channels"]
        assert layer["macs_before"] == h * w * k2 * c * m
        assert layer["macs_after"] == h * w * k2 * c + h * w * c * m
    assert e["replaced_macs_reduction"] >= 5 and e["conv_macs_reduction"] >= 5
    assert e["macs_after"] < e["macs_before"] / 4  # measured on the real model (FlopCounter), not the formula
    assert isinstance(out.model.layer1[0].conv1, DepthwiseSeparableConv)
    assert type(resnet18.model.layer1[0].conv1) is nn.Conv2d  # input untouched
    x = example_inputs(resnet18, 2)[0]
    with torch.no_grad():
        assert out.model(x).shape == (2, 10)


def test_scope_ignore_and_replay(resnet18):
    options = DepthwiseOptions(scope=Scope.parse(["re:layer[34]\\..*"]), ignore=Scope.parse(["layer4.1.conv2"]))
    out = replace_depthwise(resnet18, options)
    names = [x["name"] for x in out.lineage[-1].effect["layers"]]
    assert names and all(n.startswith(("layer3", "layer4")) for n in names)
    assert "layer4.1.conv2" not in names and "layer3.0.downsample.0" not in names  # 1x1 convs never qualify
    plan = json.loads(json.dumps(out.lineage[-1].effect["structure"]))
    fresh = apply_structure(resnet18.spec.build(), [plan], example_inputs(resnet18))
    fresh.load_state_dict(out.model.state_dict())
    x = example_inputs(resnet18, 2)[0]
    with torch.no_grad():
        assert torch.allclose(fresh.eval()(x), out.model(x), atol=1e-5)


def test_nothing_selected_is_a_user_error(resnet18):
    with pytest.raises(DLCompressError, match="no convolution"):
        replace_depthwise(resnet18, DepthwiseOptions(kernels=(5,)))
    with pytest.raises(DLCompressError, match="at least 2"):
        DepthwiseOptions(kernels=(1,))


def test_cli_depthwise_recovers_with_distillation(cli, trained_small_cnn, tmp_path):
    out = tmp_path / "dw"
    r = cli("depthwise", "--model", "small_cnn", "--weights", trained_small_cnn, "--kernel", "3",
            "--distill-epochs", "1", "--train-samples", "3000", "--eval-samples", "500", "--bench-seconds", "1",
            "--out", out, "--json")
    assert r.code == 0, r.err
    original, replaced, distilled = json.loads(r.out)["rows"]
    assert [original["variant"], replaced["variant"], distilled["variant"]] == ["original", "depthwise", "distill"]
    assert replaced["macs"] < original["macs"] / 4 and distilled["macs"] == replaced["macs"]
    assert distilled["metric"]["value"] > replaced["metric"]["value"] + 0.05  # recovered by distillation
    assert distilled["metric"]["value"] > 0.5
    md = (out / "report.md").read_text()
    assert "H·W·K·K·C·M" in md and "total (all convs)" in md
    # the distilled checkpoint carries the replacement plan and reloads on the zoo architecture
    art = load_model("small_cnn", ModelOptions(weights=str(out / "model.distill.pt")), load_dataset("fashion-mnist"))
    assert isinstance(art.model.features[2][0], DepthwiseSeparableConv)


def test_structure_edits_accumulate_across_checkpoints(tmp_path):
    """prune -> save -> load -> depthwise -> save -> load: the second checkpoint replays both edits."""
    from dlcompress.toolkit.stages.prune import PruneOptions, prune
    from dlcompress.toolkit.stages.structure import save_checkpoint

    pruned = prune(load_model("small_cnn"), PruneOptions(ratio=0.5))
    save_checkpoint(pruned, tmp_path / "p.pt")
    loaded = load_model("small_cnn", ModelOptions(weights=str(tmp_path / "p.pt")))
    replaced = replace_depthwise(loaded, DepthwiseOptions(kernels=(3,)))
    meta = save_checkpoint(replaced, tmp_path / "d.pt")
    assert [e["kind"] for e in meta["structure"]] == ["prune", "depthwise"]
    final = load_model("small_cnn", ModelOptions(weights=str(tmp_path / "d.pt")))
    x = example_inputs(final, 2)[0]
    with torch.no_grad():
        assert torch.allclose(final.model(x), replaced.model(x), atol=1e-5)
