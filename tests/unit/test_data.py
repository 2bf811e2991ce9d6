import numpy as np
import pytest

from dlcompress.toolkit import data as data_mod
from dlcompress.toolkit.data import ImageTransform, load_dataset
from dlcompress.toolkit.errors import DatasetError


def test_fashion_mnist_is_real_and_split():
    d = load_dataset("fashion-mnist")
    assert (len(d.train), len(d.test)) == (60000, 10000)
    assert d.num_classes == 10 and d.channels == 1 and d.image_size == (28, 28)
    assert d.train[0].shape == (28, 28, 1) and d.train[0].dtype == np.uint8
    assert set(np.unique(d.test.labels)) == set(range(10))


def test_digits_and_photos():
    d = load_dataset("digits")
    assert len(d.train) + len(d.test) == 1797 and d.image_size == (8, 8)
    p = load_dataset("photos")
    assert not p.labelled and p.train[0].shape == (256, 256, 3)
    assert len(p.test) > 0 and p.train[0].std() > 10  # real photos, not blank


def test_transform_resizes_converts_and_normalises():
    d = load_dataset("fashion-mnist")
    t = ImageTransform(3, (32, 32), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    x = t(d.test.batch(range(4)))
    assert x.shape == (4, 3, 32, 32) and x.dtype == np.float32
    assert np.allclose(x[:, 0], x[:, 1])  # grey replicated
    assert x.min() >= -2.0 - 1e-6 and x.max() <= 2.0 + 1e-6


def test_missing_fashion_mnist_says_which_package(monkeypatch, tmp_path):
    monkeypatch.setattr(data_mod, "FASHION_MNIST_DIR", tmp_path)
    with pytest.raises(DatasetError, match="apt-get install -y dataset-fashion-mnist"):
        load_dataset("fashion-mnist")


def test_image_folder_split(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    d = load_dataset(str(tmp_path))
    assert d.num_classes == 2 and d.class_names == ("cat", "dog")
    assert len(d.train) + len(d.test) == 10 and len(d.test) >= 2
    assert d.train[0].shape == (20, 24, 3)


def test_unknown_dataset_suggests():
    with pytest.raises(DatasetError, match="fashion-mnist"):
        load_dataset("fashion-mnst")
