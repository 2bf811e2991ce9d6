"""What the contract templates share: the parametrization over registries, a small CNN trained on real
Fashion-MNIST, real calibration/evaluation feeds, one export per exporter (reused by the runtime and
quantizer contracts), fingerprints to prove inputs are not mutated, and the guard's discovery.

A template is a class with ``kind`` ("exporter", "runtime", ...); its test methods take ``plugin`` (a registered
name). The module defines ``EXCLUDED`` (name -> reason: the test is skipped with it) and ``KNOWN_BUGS``
((test name, plugin[, variant]) -> the bug: strict xfail, so a fix makes the test fail until the entry goes).
``@variants(argname, values)`` adds a second parameter (ids ``plugin-variant``).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.contracts.registries import (
    BackgroundDiscovery,
    contract_names,
    missing_backend_hint,
)

MODEL = "small_cnn"  # the smallest labelled image classifier in the zoo (1x28x28, 94k params, Fashion-MNIST)
TRAIN_SAMPLES = 1024  # real images it is trained on (one epoch; ~0.5 top-1 after BN re-estimation)
CALIB_SAMPLES = 64
EVAL_SAMPLES = 64


def variants(argname: str, values: list[str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A second parameter of a contract test, crossed with the plug-in names."""

    def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
        f.contract_variants = (argname, list(values))  # type: ignore[attr-defined]
        return f

    return wrap


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    kind = getattr(metafunc.cls, "kind", None)
    if kind is None or "plugin" not in metafunc.fixturenames:
        return
    excluded: dict[str, str] = getattr(metafunc.module, "EXCLUDED", {})
    bugs: dict[tuple[str, ...], str] = getattr(metafunc.module, "KNOWN_BUGS", {})
    extra = getattr(metafunc.function, "contract_variants", None)
    test = metafunc.function.__name__
    names = contract_names(kind)
    combos = [(n,) for n in names] if extra is None else list(itertools.product(names, extra[1]))
    params = []
    for combo in combos:
        marks = []
        if combo[0] in excluded:
            marks.append(pytest.mark.skip(reason=f"excluded: {excluded[combo[0]]}"))
        bug = bugs.get((test, *combo))
        if bug is not None:
            reason = f"BUG (strict: drop the KNOWN_BUGS entry once fixed): {bug}"
            marks.append(pytest.mark.xfail(reason=reason, strict=True))
        params.append(pytest.param(*combo, marks=marks, id="-".join(combo)))
    metafunc.parametrize("plugin" if extra is None else ("plugin", extra[0]), params)


def skip_unless_installed(kind: str, name: str) -> None:
    hint = missing_backend_hint(kind, name)
    if hint is not None:
        pytest.skip(hint)


# ---------------------------------------------------------------------------------------------------------
# fingerprints (a stage, exporter or quantizer must not change its input)


def fingerprint(artifact: Any) -> tuple[Any, ...]:
    """Everything observable about an artifact: fields, lineage, and the weights / file bytes."""
    from dlcompress.toolkit.artifact import sibling_files

    h = hashlib.sha256()
    if artifact.model is not None:
        model = artifact.model
        for key, value in model.state_dict().items():
            h.update(key.encode())
            h.update(value.detach().cpu().contiguous().numpy().tobytes())
        body: tuple[Any, ...] = (model.training, repr(model), tuple(p.requires_grad for p in model.parameters()))
    else:
        files = [Path(artifact.path), *sibling_files(Path(artifact.path))]
        for f in files:
            h.update(f.read_bytes())
        body = tuple(sorted(str(f) for f in files))
    return (artifact.format, artifact.precision, artifact.path, artifact.spec.name, artifact.lineage,
            artifact.model is not None, body, h.hexdigest())


# ---------------------------------------------------------------------------------------------------------
# real data and a trained reference


@pytest.fixture(scope="session")
def fashion() -> Any:
    from dlcompress.toolkit.data import DATASETS
    from dlcompress.toolkit.errors import DatasetError

    try:
        return DATASETS.get("fashion-mnist")()
    except DatasetError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def transform() -> Any:
    from dlcompress.toolkit.data import ImageTransform
    from dlcompress.zoo.registry import MODELS

    spec = MODELS.get(MODEL)
    c, h, w = spec.image_shape
    return ImageTransform(c, (h, w), spec.preprocess.mean, spec.preprocess.std)


@pytest.fixture(scope="session")
def reference(fashion: Any, transform: Any) -> Any:
    """small_cnn trained for one epoch on 1024 real Fashion-MNIST images, BN statistics re-estimated."""
    import torch

    from dlcompress.toolkit.artifact import Artifact, Format, StageRecord
    from dlcompress.toolkit.training import TrainOptions, fit, reestimate_batchnorm
    from dlcompress.zoo.registry import MODELS

    spec = MODELS.get(MODEL)
    torch.manual_seed(0)
    model = spec.build()
    fit(model, fashion.train, transform, TrainOptions(epochs=1, batch_size=64, lr=5e-3, train_samples=TRAIN_SAMPLES))
    reestimate_batchnorm(model, fashion.train.head(TRAIN_SAMPLES), transform)
    model.eval()
    record = StageRecord("load", {"model": MODEL}, {"weights": f"trained on {TRAIN_SAMPLES} fashion-mnist images"})
    return Artifact(Format.TORCH, spec, model=model, lineage=(record,))


def torch_copy(artifact: Any) -> Any:
    """The artifact with its own copy of the module (so a misbehaving stage cannot spoil the shared one)."""
    import dataclasses

    return dataclasses.replace(artifact, model=copy.deepcopy(artifact.model))


@pytest.fixture(scope="session")
def calibration(fashion: Any, transform: Any) -> list[dict[str, np.ndarray]]:
    """Real training images not used for training, in batches of 16."""
    start = TRAIN_SAMPLES
    return [{"input": transform(fashion.train.batch(range(i, i + 16)))}
            for i in range(start, start + CALIB_SAMPLES, 16)]


@pytest.fixture(scope="session")
def evaluation(fashion: Any, transform: Any) -> dict[str, np.ndarray]:
    """Held-out real images (the test split), one batch."""
    return {"input": transform(fashion.test.batch(range(EVAL_SAMPLES)))}


# ---------------------------------------------------------------------------------------------------------
# one export per exporter, shared


@dataclass(frozen=True)
class Export:
    artifact: Any
    input: Any
    before: tuple[Any, ...]
    after: tuple[Any, ...]
    out_path: Path
    seconds: float


class Exports:
    """Exports the reference once per exporter (each into its own folder) and remembers what it saw."""

    def __init__(self, reference: Any, root: Path) -> None:
        self.reference = reference
        self.root = root
        self._done: dict[str, Export] = {}

    def get(self, name: str) -> Export:
        if name not in self._done:
            from dlcompress.exporters import EXPORTERS, ExportOptions

            skip_unless_installed("exporter", name)
            exporter = EXPORTERS.get(name)
            if not exporter.available():
                pytest.skip(exporter.install_hint or f"the {name} exporter is not available")
            folder = self.root / name
            folder.mkdir(parents=True, exist_ok=True)
            out = folder / f"model{exporter.suffix}"
            art = torch_copy(self.reference)
            before = fingerprint(art)
            start = time.perf_counter()
            exported = exporter.export(art, out, ExportOptions())
            self._done[name] = Export(exported, art, before, fingerprint(art), out, time.perf_counter() - start)
        return self._done[name]

    def of_format(self, fmt: Any) -> Any:
        """The exported artifact in ``fmt`` (the reference itself for torch)."""
        from dlcompress.exporters import EXPORTERS
        from dlcompress.toolkit.artifact import Format

        if fmt is Format.TORCH:
            return self.reference
        if fmt is Format.KERAS:
            return self.keras()
        names = [n for n in EXPORTERS.names() if EXPORTERS.get(n).format is fmt]
        if not names:
            pytest.fail(f"no registered exporter makes {fmt} artifacts (registered: {EXPORTERS.names()})")
        return self.get(names[0]).artifact


    def keras(self) -> Any:
        """A small Keras CNN of the same shape of task (28x28x1 Fashion-MNIST, 10 classes), trained one epoch on
        the reference's 1024 real images, saved as ``.keras`` and loaded as a Keras artifact."""
        if "keras" not in self._done:
            import importlib.util

            if importlib.util.find_spec("tensorflow") is None:
                pytest.skip("Keras models need the [tensorflow] extra")
            from dlcompress.toolkit.data import DATASETS
            from dlcompress.toolkit.loaders.keras_model import load_keras, tensorflow

            tf = tensorflow()

            fashion = DATASETS.get("fashion-mnist")()
            x = fashion.train.batch(range(TRAIN_SAMPLES)).astype(np.float32) / 255.0
            tf.keras.utils.set_random_seed(0)
            model = tf.keras.Sequential([
                tf.keras.Input((28, 28, 1)), tf.keras.layers.Conv2D(8, 3, activation="relu"),
                tf.keras.layers.MaxPool2D(), tf.keras.layers.Flatten(), tf.keras.layers.Dense(10)])
            model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            model.fit(x, fashion.train.labels[:TRAIN_SAMPLES], epochs=1, batch_size=64, verbose=0)
            path = self.root / "keras" / "small_cnn.keras"
            path.parent.mkdir(parents=True, exist_ok=True)
            model.save(str(path))
            self._done["keras"] = Export(load_keras(path), None, (), (), path, 0.0)
        return self._done["keras"].artifact


@pytest.fixture(scope="session")
def exports(reference: Any, tmp_path_factory: pytest.TempPathFactory) -> Exports:
    return Exports(reference, tmp_path_factory.mktemp("contract-exports"))


_DISCOVERY = BackgroundDiscovery()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if any("discovery" in getattr(item, "fixturenames", ()) for item in items):
        _DISCOVERY.start()  # a guard will need it: let it run beside the contract tests


def pytest_unconfigure() -> None:
    _DISCOVERY.stop()


@pytest.fixture(scope="session")
def discovery() -> dict[str, Any]:
    """What a fresh interpreter finds in each registry (see registries.py)."""
    return _DISCOVERY.result()


def open_plugin_runtime(name: str, artifact: Any) -> Any:
    from dlcompress.toolkit.runtimes import RuntimeOptions, get_runtime

    return get_runtime(name)(artifact, RuntimeOptions())


def default_runtime(artifact: Any) -> Any:
    from dlcompress.toolkit.runtimes import RuntimeOptions, open_runtime

    return open_runtime(artifact, RuntimeOptions())


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
