import json

import pytest

from dlcompress.benchmarks.report import SCHEMA, Report, Row


def sample() -> Report:
    r = Report(command="quantize", model={"name": "m", "task": "image-classification"}, data={"name": "d"},
               environment={"cpu": {"model": "x", "cores": 2, "flags": ["avx2"]}})
    r.rows = [Row("fp32", "onnx", "fp32", "onnxruntime", size_bytes=4_000_000, latency={"p50_ms": 2.0, "batch": 1}),
              Row("int8", "onnx", "int8", "onnxruntime", size_bytes=1_000_000, latency={"p50_ms": 1.0}, speedup_vs_reference=2.0,
                  metric={"name": "top1", "value": 0.9}, reason="a [bracketed] note")]
    return r


def test_json_round_trip_is_versioned():
    r = sample()
    data = json.loads(r.dumps())
    assert data["schema"] == SCHEMA and data["schema_version"] == 1
    again = Report.from_json(data)
    assert again.rows[1].variant == "int8" and again.rows[1].speedup_vs_reference == 2.0
    with pytest.raises(ValueError, match="newer"):
        Report.from_json({**data, "schema_version": 99})


def test_markdown_has_table_and_notes():
    md = sample().to_markdown()
    assert "| variant |" in md and "| int8 | onnx |" in md and "a [bracketed] note" in md


def test_rich_render_escapes_markup():
    from rich.console import Console

    c = Console(record=True, width=200)
    sample().render(c)
    assert "[bracketed]" in c.export_text()
