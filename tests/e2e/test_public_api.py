"""The public Python API: ``dlcompress.quantize`` & co. take keywords naming the request's fields."""

from __future__ import annotations

import json

import pytest


def test_quantize_with_keywords_runs_the_job_and_records_them(tmp_path, trained_small_cnn):
    import dlcompress

    out = tmp_path / "api"
    result = dlcompress.quantize("small_cnn", weights=str(trained_small_cnn), data="fashion-mnist", calib_samples=16,
                                 eval_samples=64, max_seconds=1.0, method="static", calibration="percentile",
                                 threads=1, out=str(out))
    assert result.out_dir == out and (out / "report.json").exists()
    rows = {r.precision: r for r in result.report.rows}
    assert rows["int8"].metric["samples"] == 64
    assert abs(rows["int8"].metric["value"] - rows["fp32"].metric["value"]) <= 0.03
    lineage = json.loads((out / "lineage.json").read_text())
    quant = next(rec for recs in lineage.values() for rec in recs if rec["stage"] == "quantize")
    assert quant["params"]["calibration"] == "percentile"
    assert json.loads((out / "report.json").read_text())["data"]["calibration_samples"] == 16


def test_calib_samples_is_what_the_quantizer_calibrates_on():
    """``calib_samples=128`` calibrates on 128, as ``--calib-samples 128`` does (it was capped at the default 64)."""
    from dlcompress.recipes.public import _request
    from dlcompress.recipes.quantize import QuantizeRequest

    request = _request(QuantizeRequest, "small_cnn", {"calib_samples": 128})
    assert request.data.calib_samples == 128 and request.quantize.samples == 128


def test_a_request_object_is_taken_as_it_is():
    import dlcompress
    from dlcompress.recipes.public import _request

    base = dlcompress.QuantizeRequest(model="resnet18", data=dlcompress.DataOptions("photos", 8, 16))
    request = _request(dlcompress.QuantizeRequest, base, {"method": "dynamic", "input_shape": "1,3,64,64"})
    assert request.model == "resnet18" and request.data.name == "photos" and request.data.calib_samples == 8
    assert request.quantize.method == "dynamic"
    assert request.model_options.input_shape == (1, 3, 64, 64)
    assert base.quantize.method == "auto"  # the caller's request is not changed (its default, as on the CLI)


def test_the_api_picks_the_models_own_method_as_the_cli_does(tmp_path):
    """``dlcompress.quantize(model)`` with no method is ``--method auto``: a transformer gets dynamic int8."""
    import dlcompress

    out = tmp_path / "bert"
    dlcompress.quantize("bert_tiny", eval_samples=16, max_seconds=0.5, out=str(out))
    lineage = json.loads((out / "lineage.json").read_text())
    quant = next(rec for recs in lineage.values() for rec in recs if rec["stage"] == "quantize")
    assert quant["params"]["method"] == "dynamic"


def test_an_unknown_keyword_is_one_clear_error_with_the_closest_name():
    import dlcompress

    with pytest.raises(dlcompress.DLCompressError, match=r"'calib_sample' is not an option .*did you mean 'calib_samples'"):
        dlcompress.quantize("small_cnn", calib_sample=8)
