"""The zoo x format matrix: the committed docs/zoo-matrix.{json,md} match what the code produces for a few
cheap entries (status and reason; sizes, differences and timings are not compared), and cells for missing
backends say what to install."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dlcompress.recipes.matrix import (
    LABELS,
    Cell,
    Matrix,
    MatrixOptions,
    backend_for,
    render_markdown,
    run_cell,
    run_matrix,
)
from dlcompress.toolkit.artifact import Format
from dlcompress.toolkit.backends import BACKENDS, Backend
from dlcompress.toolkit.errors import UnsupportedError

DOCS = Path(__file__).resolve().parents[2] / "docs"
CHEAP = ("small_cnn",)  # plus up to two tiny variants from the committed table
REGENERATE = "regenerate it with: dlcompress zoo matrix --out docs"


def committed() -> dict:
    path = DOCS / "zoo-matrix.json"
    assert path.exists(), f"{path} is missing; {REGENERATE}"
    return json.loads(path.read_text())


def cheap_entries(data: dict) -> list[str]:
    names = [e["name"] for e in data["entries"]]
    tiny = sorted(e["name"] for e in data["entries"] if e.get("tiny_of"))[:2]
    return [n for n in CHEAP if n in names] + tiny


def masked(text: str | None) -> str:
    """A reason without its numbers (differences, sizes and line numbers vary from machine to machine)."""
    return re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "#", text or "")


@pytest.mark.parametrize("fmt", ["onnx", pytest.param("openvino", marks=[pytest.mark.openvino, pytest.mark.slow]),
                                 pytest.param("litert", marks=[pytest.mark.litert, pytest.mark.slow]),
                                 pytest.param("executorch", marks=[pytest.mark.executorch, pytest.mark.slow])])
def test_committed_matrix_matches_the_code(fmt):
    data = committed()
    if fmt not in data["options"]["formats"]:
        pytest.skip(f"the committed matrix has no {fmt} column")
    backend = backend_for(fmt)
    if backend is None or not backend.available():
        pytest.skip(f"the {fmt} backend is not installed here")
    old = {(c["model"], c["format"]): c for c in data["cells"]}
    md = (DOCS / "zoo-matrix.md").read_text()
    names = cheap_entries(data)
    assert names, "the committed matrix has none of the cheap entries"
    for name in names:
        new = run_matrix(MatrixOptions((fmt,), full=data["options"]["full"], models=name)).cell(name, fmt)
        was = old[(name, fmt)]
        assert (new.status, masked(new.reason)) == (was["status"], masked(was["reason"])), \
            f"{name}/{fmt} changed: {new.status} {new.reason!r}; {REGENERATE}"
        row = next(line for line in md.splitlines() if line.startswith(f"| `{name}` |"))
        cell = row.split("|")[4 + data["options"]["formats"].index(fmt)]
        assert cell.strip().startswith(LABELS[new.status]), (row, new.status)


@pytest.fixture(scope="module")
def prepared():  # noqa: ANN201
    from dlcompress.recipes.common import DataOptions, prepare
    from dlcompress.toolkit.model_options import ModelOptions

    return prepare("small_cnn", ModelOptions(), DataOptions())


def test_uninstalled_and_unregistered_backends_get_a_cell_that_says_so(prepared, tmp_path, monkeypatch):
    fake = Backend("openvino", Format.OPENVINO, exporter="openvino", runtime="openvino", suffix=".xml",
                   requires=("dlcompress_no_such_module",), extra="openvino")
    monkeypatch.setitem(BACKENDS._entries, "openvino", fake)
    cell = run_cell(prepared, "openvino", tmp_path, MatrixOptions(("openvino",)))
    assert cell.status == "unavailable" and "pip install 'dlcompress[openvino]'" in cell.reason
    for name in [n for n in BACKENDS.names() if str(BACKENDS.get(n).format) == "litert"]:
        monkeypatch.delitem(BACKENDS._entries, name)
    cell = run_cell(prepared, "litert", tmp_path, MatrixOptions(("litert",)))
    assert cell.status == "unavailable" and "no backend for litert" in cell.reason


def test_markdown_lists_every_reason_and_counts():
    m = Matrix(MatrixOptions(("onnx", "openvino")))
    m.entries = [{"name": "a", "family": "f", "task": "t"}, {"name": "b", "family": "f", "task": "t"}]
    m.cells = [Cell("a", "onnx", "validated", size_bytes=2_000_000, max_abs_diff=1e-6),
               Cell("a", "openvino", "failed", "ExportError: x | y"),
               Cell("b", "onnx", "outside-tolerance", "logits: max abs diff 0.1"),
               Cell("b", "openvino", "unavailable", "pip install 'dlcompress[openvino]'")]
    md = render_markdown(m)
    assert "| onnx | 1/2 | 1 | 0 | 0 |" in md and "| openvino | 0/2 | 0 | 1 | 1 |" in md
    assert "| `a` | f | t | validated · 2.00 MB · Δ 1.0e-06 | **failed** [1] |" in md
    assert "1. a / openvino: ExportError: x \\| y" in md and "3. b / openvino: pip install" in md
    assert m.counts()["onnx"]["validated"] == 1
    with pytest.raises(UnsupportedError, match="tflite"):
        MatrixOptions(("onnx", "tflite"))


def test_update_replaces_only_the_rerun_cells():
    from dlcompress.recipes.matrix import update_matrix

    both = MatrixOptions(("onnx", "litert"))
    old = Matrix(both, [{"name": "a"}, {"name": "b"}],
                 [Cell("a", "onnx", "validated"), Cell("a", "litert", "failed", "x"), Cell("b", "onnx", "validated"),
                  Cell("b", "litert", "failed", "y")], {"torch": "1"}, "T0")
    new = Matrix(MatrixOptions(("litert",), models="b"), [{"name": "b", "note": "new"}],
                 [Cell("b", "litert", "validated")], {"torch": "2"}, "T1")
    got = update_matrix(old, new)
    assert [(c.model, c.format, c.status) for c in got.cells] == [
        ("a", "onnx", "validated"), ("a", "litert", "failed"), ("b", "onnx", "validated"), ("b", "litert", "validated")]
    assert got.entries[1] == {"name": "b", "note": "new"} and got.options == both and got.packages == {"torch": "2"}
    assert got.created == "T0; b / litert re-run T1"
    with pytest.raises(Exception, match="does not fit it"):
        update_matrix(old, Matrix(MatrixOptions(("openvino",)), [], [], {}, "T2"))


def test_update_without_a_matrix_is_one_line(cli, tmp_path):
    r = cli("zoo", "matrix", "--formats", "onnx", "--models", "small_cnn", "--update", "--out", tmp_path)
    assert r.code == 2 and "zoo-matrix.json does not exist, so there is no matrix to update" in r.err
    assert list(tmp_path.iterdir()) == []
