"""``fashion-mnist-labelled``: real Fashion-MNIST images together with their true class as a model input, for
label-conditioned models that take both (the conditional GAN discriminator: ``image[batch,1,28,28]``,
``label[batch]``). Images are scaled to the image input's declared value range ([-1, 1] for a tanh GAN)."""

from __future__ import annotations

import numpy as np

from dlcompress.toolkit.errors import DatasetError
from dlcompress.toolkit.feeds import FeedSource, FeedSplits, feed_dataset

NAME = "fashion-mnist-labelled"
TRAIN_ITEMS, TEST_ITEMS = 2048, 1000


def _inputs(spec):  # noqa: ANN001, ANN202
    images = [t for t in spec.inputs if len(t.shape) == 4 and t.dtype == "float32"]
    labels = [t for t in spec.inputs if len(t.shape) == 1 and t.dtype == "int64"]
    if len(images) != 1 or len(labels) != 1 or len(spec.inputs) != 2 or tuple(images[0].shape[1:]) != (1, 28, 28):
        raise DatasetError(f"{NAME} feeds a 1x28x28 image and its int64 class label, but {spec.name} takes "
                           f"{spec.signature()}", f"use the model's own data ({spec.card.default_data})")
    return images[0], labels[0]


@feed_dataset(NAME)
def load_labelled_fashion_mnist(spec) -> FeedSplits:  # noqa: ANN001
    """Fixed random subsets (2048 calibration, 1000 held out) of the train and test splits."""
    from dlcompress.toolkit.data import load_fashion_mnist

    image, label = _inputs(spec)
    data = load_fashion_mnist()
    lo, hi = image.value_range

    def source(split, count: int, seed: int) -> FeedSource:  # noqa: ANN001
        idx = np.sort(np.random.default_rng(seed).permutation(len(split))[:count])
        pixels = split.batch(idx).astype(np.float32)[..., 0] / 255.0  # HWC uint8 -> [0, 1]
        x = (lo + (hi - lo) * pixels)[:, None].astype(np.float32)
        y = split.labels[idx].astype(np.int64)
        return FeedSource({image.name: x, label.name: y})

    return FeedSplits(NAME, source(data.train, TRAIN_ITEMS, 0), source(data.test, TEST_ITEMS, 1),
                      "Fashion-MNIST (Debian dataset-fashion-mnist): real images with their true class labels as the "
                      "label input; held-out items from the test split", num_classes=10)
