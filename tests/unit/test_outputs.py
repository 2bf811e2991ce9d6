import pytest

from dlcompress.toolkit.errors import OutputExistsError
from dlcompress.toolkit.outputs import atomic_dir, atomic_file


def test_atomic_dir_appears_only_on_success(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as staging:
            (staging / "half.txt").write_text("x")
            raise RuntimeError("boom")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic_dir(target) as staging:
        (staging / "done.txt").write_text("ok")
    assert (target / "done.txt").read_text() == "ok"


def test_existing_output_needs_overwrite(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("old")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        with atomic_dir(target):
            pass
    assert (target / "keep.txt").read_text() == "old"
    with atomic_dir(target, overwrite=True) as staging:
        (staging / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_file(tmp_path):
    f = tmp_path / "ckpt.pt"
    with atomic_file(f) as tmp:
        tmp.write_text("data")
    assert f.read_text() == "data"
    with pytest.raises(OutputExistsError):
        with atomic_file(f):
            pass
