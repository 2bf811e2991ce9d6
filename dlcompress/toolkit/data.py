"""Datasets (raw items) and the transform that turns them into model inputs.

A dataset is ``source + transform`` (as in ``nncf.Dataset``): :class:`ImageSource` holds raw ``uint8`` HWC
images and optional labels; :class:`ImageTransform` makes normalised float32 NCHW batches of the size, channel
count and normalisation the model declares. Every dataset comes as a :class:`DataSplits`: ``train`` feeds
calibration and training, ``test`` is held out for evaluation.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlcompress.toolkit.errors import DatasetError
from dlcompress.toolkit.registry import Registry

FASHION_MNIST_DIR = Path(os.environ.get("DLCOMPRESS_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


class ImageSource:
    """Raw images (``uint8``, HWC with C in {1, 3}) and optional integer labels, indexable."""

    def __init__(
        self,
        images: Sequence[np.ndarray] | np.ndarray | None = None,
        labels: np.ndarray | None = None,
        *,
        loader: Callable[[int], np.ndarray] | None = None,
        length: int | None = None,
    ) -> None:
        if images is None and (loader is None or length is None):
            raise ValueError("ImageSource needs images, or a loader and a length")
        self._images = images
        self._loader = loader
        self._length = len(images) if images is not None else int(length)  # type: ignore[arg-type]
        self.labels = labels

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int) -> np.ndarray:
        img = self._images[index] if self._images is not None else self._loader(index)  # type: ignore[misc]
        return as_hwc(img)

    def batch(self, indices: Sequence[int] | np.ndarray) -> list[np.ndarray] | np.ndarray:
        """Raw images at ``indices`` (one fancy-indexing call for in-memory arrays)."""
        if isinstance(self._images, np.ndarray) and self._images.ndim == 4:
            return self._images[np.asarray(indices, dtype=np.int64)]
        return [self[int(i)] for i in indices]

    def subset(self, indices: Sequence[int] | np.ndarray) -> ImageSource:
        idx = np.asarray(indices, dtype=np.int64)
        labels = None if self.labels is None else self.labels[idx]
        if isinstance(self._images, np.ndarray):
            return ImageSource(self._images[idx], labels)
        return ImageSource(loader=lambda i: self[int(idx[i])], length=len(idx), labels=labels)

    def head(self, n: int | None) -> ImageSource:
        """The first ``n`` items (all when ``n`` is None or larger than the source)."""
        if n is None or n >= len(self):
            return self
        return self.subset(np.arange(n))


@dataclass(frozen=True)
class DataSplits:
    """A dataset: ``train`` (calibration, training) and a held-out ``test`` split."""

    name: str
    train: ImageSource
    test: ImageSource
    num_classes: int | None
    channels: int
    image_size: tuple[int, int]
    class_names: tuple[str, ...] | None = None
    labelled: bool = True
    kind: str = "image"


def as_hwc(img: np.ndarray) -> np.ndarray:
    """Any image array as ``uint8`` HWC with 1 or 3 channels (alpha dropped, bool/float scaled)."""
    a = np.asarray(img)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype != np.uint8:
        a = np.clip(a * (255.0 if a.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[2] == 4:
        a = a[:, :, :3]
    if a.shape[2] not in (1, 3):
        raise DatasetError(f"images must have 1, 3 or 4 channels, got shape {a.shape}")
    return a


@dataclass(frozen=True)
class ImageTransform:
    """Raw images -> model inputs: resize to (H, W), match channels, scale to [0, 1], normalise."""

    channels: int
    size: tuple[int, int]
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    channels_last: bool = False
    """Batches as NHWC (Keras/TensorFlow models) instead of NCHW."""

    @classmethod
    def for_spec(cls, spec: object) -> ImageTransform:
        """The transform into the inputs an image model's spec declares (size, channels, normalisation, layout)."""
        c, h, w = spec.image_shape  # type: ignore[attr-defined]
        pre = spec.preprocess  # type: ignore[attr-defined]
        return cls(c, (h, w), pre.mean, pre.std, pre.channels_last)

    def _fit(self, x, F):  # noqa: ANN001, ANN202 - NCHW float batch -> channels and size of the model
        if x.shape[1] != self.channels:
            if self.channels == 1:
                x = x.mean(1, keepdim=True)
            elif x.shape[1] == 1:
                x = x.expand(-1, self.channels, -1, -1)
            else:
                raise DatasetError(f"cannot turn {x.shape[1]}-channel images into {self.channels}-channel inputs")
        if tuple(x.shape[2:]) != self.size:
            x = resize_center(x, self.size, F)
        return x

    def __call__(self, images: Sequence[np.ndarray]) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        if isinstance(images, np.ndarray) and images.ndim == 4 and images.dtype == np.uint8:
            arrays = [images]
        else:
            hwc = [as_hwc(img) for img in images]
            same = all(a.shape == hwc[0].shape for a in hwc)
            arrays = [np.stack(hwc)] if same else [a[None] for a in hwc]
        x = torch.cat([self._fit(torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float().div_(255.0), F)
                       for a in arrays])
        if self.mean is not None and self.std is not None:
            mean = torch.tensor(self.mean, dtype=torch.float32).view(1, -1, 1, 1)
            std = torch.tensor(self.std, dtype=torch.float32).view(1, -1, 1, 1)
            x = (x - mean) / std
        if self.channels_last:
            x = x.permute(0, 2, 3, 1)
        return np.ascontiguousarray(x.contiguous().numpy(), dtype=np.float32)


def resize_center(t, size: tuple[int, int], F) -> object:  # noqa: ANN001 - torch types kept lazy
    """Resize an NCHW batch so it covers ``size`` (keeping aspect), then center-crop to ``size``."""
    h, w = t.shape[2:]
    th, tw = size
    scale = max(th / h, tw / w)
    nh, nw = max(th, round(h * scale)), max(tw, round(w * scale))
    if (nh, nw) != (h, w):
        t = F.interpolate(t, size=(nh, nw), mode="bilinear", align_corners=False, antialias=scale < 1)
    top, left = (nh - th) // 2, (nw - tw) // 2
    return t[:, :, top : top + th, left : left + tw]


def batches(source: ImageSource, transform: ImageTransform, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """(inputs, labels) batches over a whole source."""
    for start in range(0, len(source), batch_size):
        stop = min(start + batch_size, len(source))
        x = transform(source.batch(range(start, stop)))
        y = None if source.labels is None else source.labels[start:stop]
        yield x, y


def held_out_split(n: int, test_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices of ``n`` items: a seeded shuffle, then ``test_fraction`` of them (at least one of
    each) held out; the same for the same ``n`` every time."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = min(n - 1, max(1, round(n * test_fraction)))
    return order[n_test:], order[:n_test]


# ---------------------------------------------------------------------------------------------------------
# Dataset loaders


def _load_feed_sources() -> None:
    """Feed datasets (tokens, speech, graphs, Go positions, frames) register themselves on first lookup."""
    import importlib

    importlib.import_module("dlcompress.toolkit.sources")


DATASETS: Registry[Callable[..., DataSplits]] = Registry("dataset", loader=_load_feed_sources)
DATA_FILES: Registry[Callable[..., object]] = Registry("data file kind", loader=_load_feed_sources)
"""The user's own data files by suffix (``.txt``, ``.csv``, ``.npz``...): ``loader(path, spec=..., **options)``
returns the feeds they make for the model (``toolkit/sources/text_files.py``, ``toolkit/sources/arrays.py``)."""


def is_data_file(name_or_path: str | None) -> bool:
    """Whether ``--data`` names a file of a registered data file kind (read for the model's own inputs)."""
    if not name_or_path or name_or_path in DATASETS:
        return False
    path = Path(name_or_path)
    return path.suffix.lower() in DATA_FILES and not path.is_dir()


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 8 or data[0] != 0 or data[1] != 0:
        raise DatasetError(f"{path} is not an IDX file", "reinstall the package: apt-get install --reinstall dataset-fashion-mnist")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


@DATASETS.register("fashion-mnist")
def load_fashion_mnist(**_: object) -> DataSplits:
    """Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package (60k train / 10k test, 28x28 grey)."""
    files = {
        k: FASHION_MNIST_DIR / f"{k}-idx{3 if 'images' in k else 1}-ubyte.gz"
        for k in ("train-images", "train-labels", "t10k-images", "t10k-labels")
    }
    missing = [p for p in files.values() if not p.exists()]
    if missing:
        raise DatasetError(
            f"Fashion-MNIST not found ({missing[0]} is missing)",
            "install it with: apt-get install -y dataset-fashion-mnist",
        )
    train = ImageSource(_read_idx(files["train-images"])[..., None], _read_idx(files["train-labels"]).astype(np.int64))
    test = ImageSource(_read_idx(files["t10k-images"])[..., None], _read_idx(files["t10k-labels"]).astype(np.int64))
    return DataSplits("fashion-mnist", train, test, 10, 1, (28, 28), FASHION_MNIST_CLASSES)


@DATASETS.register("digits")
def load_digits(**_: object) -> DataSplits:
    """scikit-learn's bundled handwritten digits (1797 images, 8x8 grey); the last 20% are held out."""
    try:
        from sklearn.datasets import load_digits as sk_digits
    except ImportError:
        raise DatasetError("the digits dataset needs scikit-learn", "pip install scikit-learn") from None
    d = sk_digits()
    images = (d.images * (255.0 / 16.0)).round().astype(np.uint8)[..., None]
    labels = d.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))
    cut = int(len(order) * 0.8)
    return DataSplits(
        "digits",
        ImageSource(images[order[:cut]], labels[order[:cut]]),
        ImageSource(images[order[cut:]], labels[order[cut:]]),
        10, 1, (8, 8), tuple(str(i) for i in range(10)),
    )


CALIBRATION_PHOTOS = ("astronaut", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "camera",
                      "coins", "moon", "grass", "gravel", "page")
HELD_OUT_PHOTOS = ("chelsea", "stereo_motorcycle", "retina", "clock", "brick", "text", "colorwheel")


def _photo_crops(names: Sequence[str], per_photo: int, size: int, seed: int) -> np.ndarray:
    import skimage.data

    rng = np.random.default_rng(seed)
    crops = []
    for name in names:
        img = getattr(skimage.data, name)()
        img = as_hwc(img[0] if isinstance(img, tuple) else img)
        if img.shape[2] == 1:
            img = np.repeat(img, 3, axis=2)
        h, w = img.shape[:2]
        for _ in range(per_photo):
            side = int(rng.uniform(0.35, 1.0) * min(h, w))
            top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
            crop = img[top : top + side, left : left + side]
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            idx = np.linspace(0, side - 1, size).round().astype(int)
            crops.append(crop[idx][:, idx])
    return np.stack(crops)


@DATASETS.register("photos")
def load_photos(**_: object) -> DataSplits:
    """Real photographs bundled with scikit-image, as random crops (no labels: fidelity only).

    Calibration crops come from one set of photos, evaluation crops from a disjoint set.
    """
    try:
        import skimage.data  # noqa: F401
    except ImportError:
        raise DatasetError("the photos dataset needs scikit-image", "pip install scikit-image") from None
    train = ImageSource(_photo_crops(CALIBRATION_PHOTOS, 12, 256, seed=0))
    test = ImageSource(_photo_crops(HELD_OUT_PHOTOS, 6, 256, seed=1))
    return DataSplits("photos", train, test, None, 3, (256, 256), labelled=False)


@DATASETS.register("synthetic")
def load_synthetic(channels: int = 3, image_size: tuple[int, int] = (224, 224), **_: object) -> DataSplits:
    """Random images for latency measurement only (no accuracy)."""
    rng = np.random.default_rng(0)
    h, w = image_size
    train = ImageSource(rng.integers(0, 256, size=(64, h, w, channels), dtype=np.uint8))
    test = ImageSource(rng.integers(0, 256, size=(32, h, w, channels), dtype=np.uint8))
    return DataSplits("synthetic", train, test, None, channels, (h, w), labelled=False)


def load_image_folder(root: Path, test_fraction: float = 0.2) -> DataSplits:
    """An ImageFolder tree (one subfolder per class). ``train/`` and ``val/`` (or ``test/``) subtrees are used
    as the splits when present; otherwise a deterministic ``test_fraction`` of each class is held out. A folder
    that holds images directly and no subfolders is unlabelled data (:func:`load_flat_image_folder`)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist",
                           "pass a folder of images, or one with one subfolder of images per class")
    if not _subfolders(root) and _images_in(root):
        return load_flat_image_folder(root, test_fraction)
    held = next((root / n for n in ("val", "test", "validation") if (root / n).is_dir()), None)
    if (root / "train").is_dir() and held is not None:
        classes = _classes(root / "train")
        train_files, train_labels = _scan(root / "train", classes)
        test_files, test_labels = _scan(held, classes)
    else:
        classes = _classes(root)
        files, labels = _scan(root, classes)
        rng = np.random.default_rng(0)
        is_test = np.zeros(len(files), dtype=bool)
        for c in range(len(classes)):
            idx = np.flatnonzero(labels == c)
            rng.shuffle(idx)
            is_test[idx[: max(1, int(round(len(idx) * test_fraction)))] if len(idx) > 1 else []] = True
        train_files = [f for f, t in zip(files, is_test) if not t]
        test_files = [f for f, t in zip(files, is_test) if t]
        train_labels, test_labels = labels[~is_test], labels[is_test]
    if not train_files or not test_files:
        raise DatasetError(f"{root} holds too few images to split into calibration and evaluation sets",
                           "put at least two images in each class folder")
    first = _read_image(train_files[0])
    return DataSplits(
        root.name,
        ImageSource(loader=lambda i: _read_image(train_files[i]), length=len(train_files), labels=train_labels),
        ImageSource(loader=lambda i: _read_image(test_files[i]), length=len(test_files), labels=test_labels),
        len(classes), first.shape[2], tuple(first.shape[:2]), tuple(classes),
    )


def load_flat_image_folder(root: Path, test_fraction: float = 0.2) -> DataSplits:
    """A folder of images without class subfolders: unlabelled (fidelity against fp32 only); a deterministic
    ``test_fraction`` (seeded shuffle) is held out for evaluation."""
    root = Path(root)
    files = _images_in(root)
    if len(files) < 2:
        raise DatasetError(f"{root} holds {len(files)} image{'' if len(files) == 1 else 's'}; at least 2 are needed "
                           "to split into calibration and evaluation sets", "put more images in the folder")
    train_idx, test_idx = held_out_split(len(files), test_fraction)
    train_files = [files[i] for i in train_idx]
    test_files = [files[i] for i in test_idx]
    first = _read_image(train_files[0])
    return DataSplits(
        root.name,
        ImageSource(loader=lambda i: _read_image(train_files[i]), length=len(train_files)),
        ImageSource(loader=lambda i: _read_image(test_files[i]), length=len(test_files)),
        None, first.shape[2], tuple(first.shape[:2]), labelled=False,
    )


def _subfolders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_in(root: Path) -> list[Path]:
    """The images directly in ``root`` (not in its subfolders), sorted by name."""
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _classes(root: Path) -> list[str]:
    classes = _subfolders(root)
    if not classes:
        raise DatasetError(f"{root} has no images and no class subfolders",
                           "give a folder of images, or one with one subfolder of images per class")
    return classes


def _scan(root: Path, classes: list[str]) -> tuple[list[Path], np.ndarray]:
    files, labels = [], []
    for c, name in enumerate(classes):
        d = root / name
        for p in sorted(d.rglob("*")) if d.is_dir() else []:
            if p.suffix.lower() in IMAGE_SUFFIXES:
                files.append(p)
                labels.append(c)
    if not files:
        raise DatasetError(f"no images found under {root}", f"supported suffixes: {', '.join(sorted(IMAGE_SUFFIXES))}")
    return files, np.asarray(labels, dtype=np.int64)


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L") if im.mode in ("L", "I", "I;16", "1") else im.convert("RGB")
            return as_hwc(np.asarray(im))
    except (UnidentifiedImageError, OSError) as e:
        raise DatasetError(f"cannot read image {path}: {e}", "remove or replace the file") from None


def load_dataset(name_or_path: str, **kwargs: object) -> DataSplits:
    """A registered dataset by name, a data file of a registered kind (``DATA_FILES``: it needs ``spec=``), or an
    image folder by path."""
    if name_or_path in DATASETS:
        return DATASETS.get(name_or_path)(**kwargs)
    path = Path(name_or_path)
    if is_data_file(name_or_path):
        return DATA_FILES.get(path.suffix.lower())(path, **kwargs)  # type: ignore[return-value]
    if path.is_file():
        raise DatasetError(f"--data {path.name}: dlcompress reads no {path.suffix or 'suffix-less'} data files",
                           f"give a {', '.join(DATA_FILES.names())} file, or a folder of images")
    if path.exists() or os.sep in name_or_path:
        return load_image_folder(path)
    raise DatasetError(
        f"unknown dataset {name_or_path!r}",
        DATASETS.suggest(name_or_path) + f"; or pass a data file ({', '.join(DATA_FILES.names())}) or a folder of images",
    )
