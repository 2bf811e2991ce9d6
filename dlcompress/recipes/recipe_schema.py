"""The schema of a recipe file, checked by pydantic before any work.

The options of each step are the option dataclasses the commands build (``QuantizeOptions``, ``PruneOptions``
...): the schema is derived from their fields, so a new option is a recipe key the moment it exists. Choices
(``calibration: minmax | entropy | percentile``) come from the registries and constants the options themselves
check; the dataclass's own ``__post_init__`` checks run too, and every error is located at its key
(``steps[2].quantize.calibration``), which :mod:`dlcompress.recipes.recipe_file` turns into a file line.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from dlcompress.toolkit.errors import DLCompressError
from dlcompress.toolkit.scope import Scope

Loc = tuple[str | int, ...]


class RecipeError(DLCompressError):
    """A recipe that does not validate: ``loc`` is where (``("steps", 2, "quantize", "calibration")``)."""

    def __init__(self, loc: Loc, message: str, hint: str | None = None) -> None:
        super().__init__(f"{format_loc(loc)}: {message}" if loc else message, hint)
        self.loc = loc
        self.detail = message


def format_loc(loc: Loc) -> str:
    """``("steps", 2, "quantize", "method")`` -> ``steps[2].quantize.method``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _choices() -> dict[tuple[str, str], Callable[[], tuple[str, ...]]]:
    """(dataclass name, field) -> the values it takes, read from where the options check them."""
    from dlcompress.toolkit.stages import prune, quantize
    from dlcompress.toolkit.stages.depthwise import INITS

    return {("QuantizeOptions", "method"): lambda: quantize.METHODS,
            ("QuantizeOptions", "calibration"): lambda: quantize.CALIBRATION_METHODS,
            ("QuantizeOptions", "quant_format"): lambda: quantize.QUANT_FORMATS,
            ("QuantizeOptions", "embeddings"): lambda: quantize.EMBEDDINGS,
            ("PruneOptions", "method"): lambda: prune.METHODS,
            ("PruneOptions", "importance"): lambda: tuple(prune.IMPORTANCES.names()),
            ("DepthwiseOptions", "init"): lambda: tuple(INITS.names()),
            ("TrainOptions", "optimizer"): lambda: ("adamw", "sgd")}


SKIPPED = {("QuantizeOptions", "advanced")}
"""Fields a recipe does not set (a backend's own option object; its flags stay on the command line)."""


def _field_type(cls: type, name: str, hint: Any) -> Any:
    if hint is Scope:
        return list[str]
    choices = _choices().get((cls.__name__, name))
    if choices is not None:
        return Literal[choices()]  # type: ignore[valid-type]
    return hint


@cache
def options_model(cls: type) -> type[BaseModel]:
    """A pydantic model of ``cls``'s fields (unknown keys rejected), for one option dataclass."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if (cls.__name__, f.name) in SKIPPED:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        fields[f.name] = (_field_type(cls, f.name, hints[f.name]) | None if default is None else
                          _field_type(cls, f.name, hints[f.name]), Field(default=default))
    return create_model(f"{cls.__name__}Recipe", __config__=ConfigDict(extra="forbid"), **fields)


def build_options(cls: type, data: Any, loc: Loc, base: Any = None) -> Any:
    """``data`` (a mapping from the recipe) as an instance of the option dataclass ``cls``; a RecipeError at the
    offending key otherwise. Keys not given keep the dataclass's defaults (or ``base``'s values)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(loc, f"expected a mapping of {cls.__name__} options, got {_kind(data)}",
                          f"e.g. {next(iter(f.name for f in dataclasses.fields(cls)))}: ...")
    model = options_model(cls)
    try:
        validated = model.model_validate(data)
    except ValidationError as e:
        raise first_error(e, loc) from None
    given = {k: getattr(validated, k) for k in data}
    hints = typing.get_type_hints(cls)
    for key, value in list(given.items()):
        if value is None and _has_default_factory(cls, key):
            given.pop(key)
        elif hints[key] is Scope:
            try:
                given[key] = Scope.parse(value)
            except DLCompressError as e:
                raise RecipeError((*loc, key), e.message, e.hint) from None
    try:
        return dataclasses.replace(base, **given) if base is not None else cls(**given)
    except DLCompressError as e:
        key = next((k for k in given if k.replace("_", "-") in e.message or f"{k!r}" in e.message), None)
        raise RecipeError((*loc, key) if key else loc, e.message, e.hint) from None
    except (TypeError, ValueError) as e:
        raise RecipeError(loc, str(e)) from None


def _has_default_factory(cls: type, name: str) -> bool:
    return any(f.name == name and f.default_factory is not dataclasses.MISSING for f in dataclasses.fields(cls))


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING


def first_error(error: ValidationError, loc: Loc) -> RecipeError:
    """The first of pydantic's errors as one located RecipeError, worded for a person editing a file."""
    err = error.errors()[0]
    where = (*loc, *err["loc"])
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        return RecipeError(where, "is not a known key", "check its spelling; `dlcompress recipes show NAME` has examples")
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return RecipeError(where, f"{value!r} is not one of {expected.replace(chr(39), '').replace(' or ', ', ')}")
    if kind == "missing":
        return RecipeError(where, "is required")
    return RecipeError(where, f"{err['msg'].rstrip('.')} (got {_kind(value)} {value!r})")


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", int: "a number",
            float: "a number", type(None): "nothing"}.get(type(value), type(value).__name__)


def options_dict(obj: Any, base: Any = None) -> dict[str, Any]:
    """The fields of an option dataclass that differ from its defaults (or from ``base``'s values), as plain
    YAML-able values (what ``--save-recipe`` writes)."""
    cls = type(obj)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if (cls.__name__, f.name) in SKIPPED:
            continue
        value = getattr(obj, f.name)
        if value == (getattr(base, f.name) if base is not None else _default(f)):
            continue
        out[f.name] = plain(value)
    return out


def plain(value: Any) -> Any:
    """A value as YAML writes it: tuples as lists, a Scope as its items, paths as text."""
    if isinstance(value, Scope):
        return [*value.names, *(f"re:{p}" for p in value.patterns), *(f"type:{t}" for t in value.types)]
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return options_dict(value)
    if hasattr(value, "__fspath__"):
        return str(value)
    return value
