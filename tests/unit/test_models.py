import pytest
import torch

from dlcompress.recipes.loading import load_model
from dlcompress.toolkit.batchnorm import recalibrate_batchnorm
from dlcompress.toolkit.data import load_dataset
from dlcompress.toolkit.errors import InputShapeError, UnknownNameError, WeightsError
from dlcompress.toolkit.model_options import ModelOptions, parse_shape
from tests.conftest import DATA_DIR


def test_zoo_model_adapts_to_fashion_mnist():
    art = load_model("resnet18", ModelOptions(), load_dataset("fashion-mnist"))
    assert art.spec.image_shape == (1, 32, 32) and art.spec.card.num_classes == 10
    out = art.model(torch.zeros(2, 1, 32, 32))
    assert out.shape == (2, 10)


def test_unknown_model_suggests():
    with pytest.raises(UnknownNameError, match="resnet50"):
        load_model("resnet5")


def test_factory_needs_and_checks_input_shape():
    with pytest.raises(InputShapeError, match="--input-shape"):
        load_model(f"{DATA_DIR / 'tiny_net.py'}:build")
    art = load_model(f"{DATA_DIR / 'tiny_net.py'}:build", ModelOptions(input_shape=(1, 3, 16, 16)))
    assert art.spec.outputs[0].shape == ("batch", 5) and art.spec.task == "image-classification"
    with pytest.raises(InputShapeError, match="fails on an input"):
        load_model(f"{DATA_DIR / 'tiny_net.py'}:build", ModelOptions(input_shape=(1, 4, 16, 16)))


def test_checkpoint_round_trip_and_mismatch(tmp_path):
    art = load_model("small_cnn")
    ckpt = tmp_path / "w.pt"
    torch.save({"model": {"module." + k: v for k, v in art.model.state_dict().items()}}, ckpt)  # DDP-style keys
    again = load_model("small_cnn", ModelOptions(weights=str(ckpt)))
    for a, b in zip(art.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(WeightsError, match="do not match"):
        load_model("resnet18", ModelOptions(weights=str(ckpt)))


def test_parse_shape_errors():
    assert parse_shape("1,3,224,224") == (1, 3, 224, 224)
    with pytest.raises(InputShapeError):
        parse_shape("1,three")
    with pytest.raises(InputShapeError):
        parse_shape("0,3")


def test_bn_recalibration_changes_statistics():
    art = load_model("small_cnn")
    bn = art.model.features[0][1]
    before = bn.running_mean.clone()
    n = recalibrate_batchnorm(art.model, [torch.rand(8, 1, 28, 28) for _ in range(2)])
    assert n == 3 and not torch.equal(before, bn.running_mean) and not art.model.training
