"""Fuzzing the recipe loader and the CLI's option parsers with hypothesis: whatever the input, either a valid
result or one DLCompressError (the CLI prints it as one line, exit 2) — never another exception."""

from __future__ import annotations

import string

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlcompress.recipes.recipe_file import (
    STEP_OPTIONS,
    TOP_KEYS,
    apply_set,
    from_data,
    parse_recipe,
)
from dlcompress.toolkit.errors import DLCompressError
from dlcompress.toolkit.model_options import (
    parse_floats,
    parse_named_shapes,
    parse_shape,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["static", "dynamic", "minmax", "onnxruntime", "export",
                                                           "quantize", "prune", "1,3,32,32", "photos", "auto"]))
keys = st.one_of(st.sampled_from(TOP_KEYS), st.sampled_from(["method", "calibration", "ratio", "name", "samples",
                                                              "max_drop", "train", "teacher", "opset", "epochs"]),
                 st.text(string.ascii_lowercase + "_", min_size=1, max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(keys, inner, max_size=4)), max_leaves=12)
steps = st.lists(st.one_of(st.sampled_from([*STEP_OPTIONS, "distil"]),
                           st.dictionaries(st.sampled_from([*STEP_OPTIONS, "nope"]),
                                           st.one_of(st.none(), st.dictionaries(keys, values, max_size=3)),
                                           min_size=1, max_size=2)), max_size=5)
recipes = st.fixed_dictionaries({"model": st.one_of(st.just("small_cnn"), scalars)},
                                optional={"steps": st.one_of(steps, values), "data": values, "backends": values,
                                          "bench": values, "gates": values, "threads": scalars,
                                          "input_shape": scalars, "mean": values, "std": values, "weights": scalars,
                                          "out": values, "device": values, "task": values, "tokenizer": values,
                                          "inference_precision": values})


def _only_clear_errors(fn, *args) -> None:  # noqa: ANN001
    try:
        fn(*args)
    except DLCompressError as e:
        assert str(e).strip() and "\n" not in str(e).strip(), repr(str(e))


@SETTINGS
@given(recipes)
def test_recipe_data_validates_or_is_one_clear_error(data):
    _only_clear_errors(from_data, data)


@SETTINGS
@given(recipes)
def test_recipe_text_round_trips_through_yaml(data):
    try:
        text = yaml.safe_dump(data)
    except yaml.YAMLError:
        return
    _only_clear_errors(parse_recipe, text, "fuzz.yaml")


@SETTINGS
@given(st.text(alphabet=string.printable, max_size=80))
def test_any_text_is_a_recipe_or_one_clear_error(text):
    _only_clear_errors(parse_recipe, text, "fuzz.yaml")


@SETTINGS
@given(st.text(alphabet=string.ascii_letters + string.digits + "._[]=,: -{}", max_size=40))
def test_any_set_is_applied_or_one_clear_error(item):
    base = {"model": "small_cnn", "steps": ["export", {"quantize": {"method": "static"}}]}
    _only_clear_errors(lambda: from_data(apply_set(base, item)))


@SETTINGS
@given(st.text(alphabet=string.digits + ",x=; _-.abc", max_size=30))
def test_shape_and_number_options_parse_or_are_one_clear_error(text):
    for parse in (parse_shape, parse_named_shapes, lambda t: parse_floats(t, "--mean")):
        _only_clear_errors(parse, text)
