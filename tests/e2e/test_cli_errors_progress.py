"""Bad input with progress output ON (the suite runs quiet): every command still fails with exit code 2, exactly
one ``dlcompress: error:`` line (the last line on stderr, after whatever progress was printed), no traceback,
and nothing written — neither at --out nor in the working directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dlcompress.toolkit import progress

SMALL = ("--model", "small_cnn", "--data", "digits", "--eval-samples", "8", "--bench-seconds", "1")


@pytest.fixture
def loud(monkeypatch, tmp_path):
    """Progress on, in an empty working directory (default outputs would land there)."""
    monkeypatch.delenv(progress.QUIET_ENV, raising=False)
    progress.set_quiet(False)  # a no-op by design (quiet is never switched back on); the variable decides
    assert not progress.quiet()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def assert_one_error_line(r, fragment: str) -> None:
    assert r.code == 2, (r.code, r.err)
    assert "Traceback" not in r.err and "Traceback" not in r.out, r.err
    errors = [ln for ln in r.err.splitlines() if ln.startswith("dlcompress: error:")]
    assert len(errors) == 1, r.err
    assert "dlcompress: error:" not in r.out
    lines = [ln for ln in r.err.splitlines() if ln.strip()]
    assert lines[-1] == errors[0], r.err  # progress comes before the error, never after it
    assert fragment in errors[0], errors[0]


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# (command, how to build its arguments from the working folder, error fragment, expect progress before the error)
Args = Callable[[Path], list]


def _junk(path: Path, data: bytes = b"\x08\x07garbage" * 10) -> Path:
    path.write_bytes(data)
    return path


CASES: list[tuple[str, Args, str, bool]] = [
    ("quantize", lambda d: ["quantize", *SMALL, "--exporter", "nope", "--out", d / "out"],
     "unknown ONNX export route 'nope'", True),
    ("train", lambda d: ["train", "--model", "small_cnn", "--data", "synthetic", "--out", d / "out.pt"],
     "synthetic has no labels to train on", False),
    ("export", lambda d: ["export", "--model", "small_cnn", "--data", "digits", "--exporter", "nope", "--out",
                          d / "out.onnx"], "unknown ONNX export route 'nope'", True),
    ("bench", lambda d: ["bench", _junk(d / "broken.onnx"), "--bench-seconds", "1", "--out", d / "out"],
     "is not a valid ONNX model", False),
    ("prune", lambda d: ["prune", *SMALL, "--ratio", "0.5", "--ignore", "nope", "--out", d / "out"],
     "scope names layer 'nope'", True),
    ("depthwise", lambda d: ["depthwise", *SMALL, "--scope", "nope", "--out", d / "out"],
     "scope names layer 'nope'", True),
    ("distill", lambda d: ["distill", *SMALL, "--teacher", "small_cnn", "--out", d / "out"],
     "has random weights, so it has nothing to teach", True),
    ("pipeline", lambda d: ["pipeline", *SMALL, "--steps", "prune,export", "--ratio", "0.5", "--exporter", "nope",
                            "--out", d / "out"], "unknown ONNX export route 'nope'", True),
    ("report", lambda d: ["report", (d / "empty").mkdir() or d / "empty", "--out", d / "out"],
     "no report.json in", False),
    ("edgetpu-check", lambda d: ["edgetpu-check", _junk(d / "model.tflite")], "is not a TFLite/LiteRT flatbuffer", False),
    ("zoo-list", lambda d: ["zoo", "list", "nothing*"], "no zoo entry matches 'nothing*'", False),
    ("zoo-show", lambda d: ["zoo", "show", "resnet5"], "unknown model 'resnet5'", False),
    ("zoo-matrix", lambda d: ["zoo", "matrix", "--formats", "tensorrt", "--out", d / "out"],
     "unknown format 'tensorrt' in --formats", False),
]


@pytest.mark.parametrize("args,fragment,progress_first", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_with_progress_on(cli, loud, args, fragment, progress_first):
    argv = args(loud)
    inputs = _files(loud)
    r = cli(*argv)
    assert_one_error_line(r, fragment)
    if progress_first:  # the run got far enough to narrate: progress really was on
        assert any(ln.startswith(("•", "!")) for ln in r.err.splitlines()), r.err
    assert _files(loud) == inputs  # nothing written: no output, no staging folder, nothing in the cwd


def test_late_failure_leaves_no_half_written_folder(cli, loud):
    """OpenVINO: the fp32 model is exported and validated into the staging folder before quantization fails."""
    pytest.importorskip("openvino")
    r = cli("quantize", *SMALL, "--calib-samples", "8", "--backend", "openvino", "--exporter", "torch",
            "--ignore", "re:nomatch", "--out", loud / "out")
    assert_one_error_line(r, "--ignore re:nomatch matches no node of the OpenVINO model")
    assert "openvino validated" in r.err  # it failed after the export had been written
    assert _files(loud) == set()


def test_quiet_silences_progress_but_not_the_error(cli, loud):
    args = ("export", "--model", "small_cnn", "--data", "digits", "--exporter", "nope", "--out", loud / "m.onnx")
    noisy = cli(*args)
    assert_one_error_line(noisy, "unknown ONNX export route")
    assert len([ln for ln in noisy.err.splitlines() if ln.strip()]) > 1
    assert not progress.quiet()
    quiet = cli(*args, "--quiet")
    assert_one_error_line(quiet, "unknown ONNX export route")
    assert quiet.err.strip().splitlines() == [noisy.err.strip().splitlines()[-1]]
    assert _files(loud) == set()


def test_bench_unknown_precision_is_a_user_error(cli, loud):
    r = cli("bench", *SMALL, "--backends", "onnxruntime", "--precisions", "int4", "--out", loud / "out")
    assert_one_error_line(r, "int4")
    assert _files(loud) == set()


def test_failed_torchscript_export_prints_nothing_on_stdout(capfd, loud):
    from dlcompress.cli import main

    code = main(["quantize", *SMALL, "--exporter", "torchscript", "--opset", "99", "--out", str(loud / "out")])
    out, err = capfd.readouterr()
    assert code == 2 and "Unsupported onnx_opset_version: 99" in err
    assert out == "", out[:300]
