"""The shape of the package: layers import only downward, no import circles, a cheap ``import dlcompress``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("cli", "commands", "recipes", "zoo", "exporters", "benchmarks", "toolkit")


def test_lint_imports_keeps_the_layer_and_independence_contracts():
    exe = shutil.which("lint-imports")
    assert exe, "lint-imports (import-linter) is part of the [test] extra"
    done = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 kept, 0 broken" in done.stdout


def test_the_layer_names_are_the_documented_ones():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in config if c["type"] == "layers")["layers"]
    named = [part.strip().removeprefix("dlcompress.") for layer in layers for part in layer.split("|")]
    assert tuple(named) == LAYERS
    assert all((ROOT / "dlcompress" / (n if n != "cli" else "cli.py")).exists() for n in LAYERS)


def test_no_import_circle():
    """Every import statement (module level or inside a function) counts; a circle is a strongly connected
    component of more than one module."""
    import grimp
    import networkx as nx

    graph = grimp.build_graph("dlcompress")
    edges = nx.DiGraph()
    for module in graph.modules:
        edges.add_node(module)
        for target in graph.find_modules_directly_imported_by(module):
            edges.add_edge(module, target)
    circles = [sorted(c) for c in nx.strongly_connected_components(edges) if len(c) > 1]
    assert not circles, f"import circles: {circles}"


def test_the_no_circle_check_can_fail():
    """The same strongly-connected-component check flags a two-module circle."""
    import networkx as nx

    g = nx.DiGraph([("a", "b"), ("b", "a"), ("b", "c")])
    assert [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1] == [["a", "b"]]


def test_import_dlcompress_loads_no_framework_and_the_api_resolves():
    code = ("import sys, json, dlcompress; before = sorted(m for m in ('torch', 'onnxruntime', 'openvino', 'onnx', "
            "'tensorflow', 'numpy', 'typer') if m in sys.modules); f = dlcompress.quantize; "
            "print(json.dumps({'before': before, 'api': [callable(getattr(dlcompress, n)) for n in "
            "('quantize', 'export', 'bench', 'prune', 'distill', 'load_model')], 'torch_after': 'torch' in sys.modules}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["before"] == []
    assert all(result["api"])
    assert result["torch_after"]  # the lazy import really happened on first use


def test_unknown_public_name_is_an_attribute_error():
    import dlcompress

    with pytest.raises(AttributeError, match="no attribute 'quantise'"):
        dlcompress.quantise  # noqa: B018


def test_model_spec_is_the_io_contract_with_small_groups():
    """ModelSpec holds the I/O contract; preprocessing, tolerance and catalogue facts are groups of their own,
    and backend choices are plain-data hints. None of them has more than 11 fields."""
    import dataclasses

    from dlcompress.toolkit.spec import ModelCard, ModelSpec, Preprocess, Tolerance

    sizes = {cls.__name__: len(dataclasses.fields(cls)) for cls in (ModelSpec, Preprocess, Tolerance, ModelCard)}
    assert max(sizes.values()) <= 11, sizes
    spec = ModelSpec(name="m", task="custom", builder=lambda: None, inputs=(), outputs=())
    changed = spec.replace(mean=(0.5,), std=(0.25,), num_classes=3, atol=1e-2, task="image-classification")
    assert (changed.preprocess.mean, changed.card.num_classes, changed.tolerance.atol, changed.task) == \
        ((0.5,), 3, 1e-2, "image-classification")
    assert spec.preprocess.mean is None and spec.card.num_classes is None  # the original is untouched
    with pytest.raises(TypeError, match="no field colour"):
        spec.replace(colour="red")
