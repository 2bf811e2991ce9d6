"""Image-input zoo entries (classifiers, detectors, segmenters, GANs, metric learning, MAML): every tiny variant
runs, declares its I/O truthfully, has computed params/MACs and exports to ONNX that validates against torch.
Real sizes are built and run once in a slow test."""

from __future__ import annotations

import pytest
import torch

from dlcompress.zoo import MODELS
from tests.zoo.family_checks import check_complexity
from tests.zoo.image_checks import MODULES, check_export, check_forward, module_entries

TINY = module_entries(MODULES, tiny=True)
REAL = module_entries(MODULES, tiny=False)


def test_every_real_entry_has_exactly_one_tiny_variant():
    assert sorted(MODELS.get(n).card.tiny_of for n in TINY) == sorted(REAL)
    assert {f"{n}_tiny" for n in REAL} == set(TINY)
    expected = {
        "resnet18", "resnet50", "wide_resnet50_2", "mobilenet_v2", "mobilenet_v3_large", "densenet121", "vit_b_16",
        "vgg16", "preact_resnet18", "pyramidnet110_a48", *(f"efficientnet_b{i}" for i in range(8)),
        "fasterrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn", "retinanet_resnet50_fpn", "fcos_resnet50_fpn",
        "ssdlite320_mobilenet_v3_large", "yolo_v1", "deeplabv3_resnet50", "fcn_resnet50",
        "dcgan_generator", "dcgan_discriminator", "cgan_generator", "cgan_discriminator", "pix2pix_generator",
        "pix2pix_discriminator", "siamese_net", "triplet_net", "maml_convnet4",
    }
    assert set(REAL) == expected


def test_entries_declare_task_paper_and_tolerance():
    """Static metadata of every image entry, real and tiny (nothing is built); every failure is listed at once."""
    problems = []
    for name in REAL + TINY:
        spec = MODELS.get(name)
        if not (spec.card.paper and spec.task and 0 < spec.tolerance.atol <= 5e-2 and spec.tolerance.rtol > 0):
            problems.append(f"{name}: paper={spec.card.paper!r} task={spec.task!r} atol={spec.tolerance.atol} rtol={spec.tolerance.rtol}")
        if spec.card.default_data not in ("photos", "fashion-mnist", "digits", "synthetic", "fashion-mnist-labelled"):
            problems.append(f"{name}: default data {spec.card.default_data!r}")
        if spec.card.tiny_of:
            real = MODELS.get(spec.card.tiny_of)
            ours = (spec.card.family, spec.task, [t.name for t in spec.inputs], [t.name for t in spec.outputs])
            theirs = (real.card.family, real.task, [t.name for t in real.inputs], [t.name for t in real.outputs])
            if ours != theirs:
                problems.append(f"{name}: {ours} differs from {spec.card.tiny_of}'s {theirs}")
    assert REAL and TINY and not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


@pytest.mark.parametrize("name", TINY)
def test_tiny_forward_complexity_and_export(name, tmp_path):
    """Export with the TorchScript route (the fallback of ``auto``; ~4x less CPU than dynamo, which
    ``test_dynamo_export_validates`` covers on one entry per family)."""
    spec = MODELS.get(name)
    check_forward(spec)
    params, macs = check_complexity(name)
    assert params < 6_000_000, "a tiny variant should stay small"
    check_export(name, tmp_path, route="torchscript")


DYNAMO_SAMPLE = ["vit_b_16_tiny", "yolo_v1_tiny", "pix2pix_generator_tiny", "cgan_generator_tiny", "triplet_net_tiny"]


@pytest.mark.parametrize("name", DYNAMO_SAMPLE)
def test_dynamo_export_validates(name, tmp_path):
    """The default route (``auto``: the dynamo exporter first) takes attention, a dense detection grid, U-Net skips
    with transposed convs, an embedding of int64 labels and three shared-weight inputs. (Classifiers' dynamo
    exports are covered by the end-to-end tests; torchvision detectors cannot take it.)"""
    result = check_export(name, tmp_path)
    assert result.artifact.lineage[-1].params["route"] == "dynamo"


def test_detection_specs_prefer_torchscript_and_keep_postprocessing_in_float():
    for name in ("fasterrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_tiny", "ssdlite320_mobilenet_v3_large"):
        spec = MODELS.get(name)
        assert spec.hint("onnx", "routes")[0] == "torchscript" and spec.fixed_batch == 1
        assert spec.hint("onnxruntime", "op_types") == ("Conv", "MatMul", "Gemm")
        assert all(t.unordered for t in spec.outputs)
    assert MODELS.get("yolo_v1").fixed_batch is None  # the YOLO grid is a dense, batched output


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL)
def test_real_size_builds_and_runs(name):
    """Each real-size entry builds (random init) and runs one forward on its declared input."""
    spec = MODELS.get(name)
    torch.manual_seed(0)
    model = spec.build()
    with torch.no_grad():
        check_forward(spec, model, batch=1)
