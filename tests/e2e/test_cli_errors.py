"""Every bad input: one clear line on stderr, exit code 2, no traceback, nothing half-written."""

import os
import subprocess
import sys

import pytest
import torch

from tests.conftest import DATA_DIR


def assert_user_error(result, *fragments):
    assert result.code == 2, (result.code, result.err)
    lines = [ln for ln in result.err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("dlcompress: error: ")
    assert "Traceback" not in result.err
    for f in fragments:
        assert f in lines[0], lines[0]


def no_output_left(parent):
    return [p.name for p in parent.iterdir()] == []


def test_unknown_model_suggests_closest(cli, tmp_path):
    r = cli("quantize", "--model", "resnet5", "--out", tmp_path / "o")
    assert_user_error(r, "unknown model 'resnet5'", "did you mean", "resnet50")
    assert no_output_left(tmp_path)


def test_missing_dataset_names_the_package(cli, tmp_path, monkeypatch):
    from dlcompress.toolkit import data

    monkeypatch.setattr(data, "FASHION_MNIST_DIR", tmp_path / "nowhere")
    r = cli("quantize", "--model", "small_cnn", "--data", "fashion-mnist", "--out", tmp_path / "o")
    assert_user_error(r, "Fashion-MNIST not found", "apt-get install -y dataset-fashion-mnist")
    assert not (tmp_path / "o").exists()


def test_unknown_dataset(cli, tmp_path):
    r = cli("quantize", "--model", "small_cnn", "--data", "fashoin-mnist", "--out", tmp_path / "o")
    assert_user_error(r, "unknown dataset", "fashion-mnist")


def test_unreadable_weights(cli, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    r = cli("quantize", "--model", "small_cnn", "--weights", bad, "--out", tmp_path / "o")
    assert_user_error(r, "cannot read weights file")
    assert not (tmp_path / "o").exists()


def test_missing_weights_file(cli, tmp_path):
    r = cli("quantize", "--model", "small_cnn", "--weights", tmp_path / "nope.pt", "--out", tmp_path / "o")
    assert_user_error(r, "does not exist")


def test_mismatched_weights(cli, tmp_path):
    from dlcompress.recipes.loading import load_model

    ckpt = tmp_path / "r18.pt"
    torch.save(load_model("resnet18").model.state_dict(), ckpt)
    r = cli("quantize", "--model", "small_cnn", "--weights", ckpt, "--out", tmp_path / "o")
    assert_user_error(r, "do not match the model")
    assert not (tmp_path / "o").exists()


def test_pretrained_name_not_in_cache(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    r = cli("quantize", "--model", "resnet18", "--weights", "IMAGENET1K_V1", "--out", tmp_path / "o")
    assert_user_error(r, "not in the local cache")


@pytest.mark.parametrize("shape,fragment", [
    ("1,3,x", "comma-separated integers"),
    ("1,4,16,16", "fails on an input of shape 1,4,16,16"),
])
def test_wrong_input_shape_for_factory(cli, tmp_path, shape, fragment):
    r = cli("quantize", "--model", f"{DATA_DIR / 'tiny_net.py'}:build", "--input-shape", shape, "--out", tmp_path / "o")
    assert_user_error(r, fragment)


def test_factory_without_shape_and_bad_factory(cli, tmp_path):
    assert_user_error(cli("quantize", "--model", f"{DATA_DIR / 'tiny_net.py'}:build", "--out", tmp_path / "o"),
                      "--input-shape")
    assert_user_error(cli("quantize", "--model", f"{DATA_DIR / 'tiny_net.py'}:not_a_model", "--input-shape", "1,3,8,8",
                          "--out", tmp_path / "o"), "not a torch.nn.Module")
    assert_user_error(cli("quantize", "--model", "no_such_pkg.mod:build", "--input-shape", "1,3,8,8",
                          "--out", tmp_path / "o"), "cannot import no_such_pkg.mod")


def test_wrong_channels_for_zoo_model(cli, tmp_path):
    r = cli("quantize", "--model", "resnet18", "--input-shape", "1,5,224,224", "--out", tmp_path / "o")
    assert_user_error(r, "3 input channels")


def test_existing_output_is_refused_unless_overwrite(cli, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    r = cli("quantize", "--model", "small_cnn", "--out", out)
    assert_user_error(r, "already exists", "--overwrite")
    assert (out / "precious.txt").read_text() == "keep me"


def test_corrupt_onnx(cli, tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 10)
    r = cli("quantize", "--model", bad, "--out", tmp_path / "o")
    assert_user_error(r, "is not a valid ONNX model")
    r = cli("bench", bad)
    assert_user_error(r, "is not a valid ONNX model")
    assert not (tmp_path / "o").exists()


def test_bad_option_value(cli, tmp_path):
    assert_user_error(cli("quantize", "--model", "small_cnn", "--calibration", "kl", "--out", tmp_path / "o"),
                      "--calibration 'kl' is not supported")


def test_real_process_exit_code_and_no_traceback(tmp_path):
    p = subprocess.run([sys.executable, "-m", "dlcompress", "quantize", "--model", "resnet5", "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dlcompress: error: unknown model 'resnet5' (did you mean 'resnet50'")


def test_an_output_that_cannot_be_created_is_one_line(cli, tmp_path):
    """A file where a folder of --out should be, and a folder this user may not write (seen in Docker: a
    bind-mounted folder owned by root, the image's user uid 1000): one line, exit 2, before any work."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    r = cli("quantize", "--model", "small_cnn", "--out", blocker / "sub" / "o")
    assert_user_error(r, f"{blocker} is a file, not a folder", "choose another --out")
    assert blocker.read_text() == "not a folder"



@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder, so there is none to refuse here "
                    "(CI runs as root; the case runs where the tests run as a user)")
def test_a_folder_this_user_may_not_write_is_one_line(cli, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        r = cli("quantize", "--model", "small_cnn", "--out", locked / "o")
        assert_user_error(r, "is not writable by this user", "--user")
        assert not any(locked.iterdir())
    finally:
        locked.chmod(0o755)
