"""Scope: which layers a stage touches or leaves alone, as plain data (names, regex patterns, op types).

Like NNCF's ``IgnoredScope`` (and unlike Torch-Pruning's lists of live module objects), a scope is
serialisable: a recipe or a CLI flag can hold it. One string form covers all three kinds::

    layer4.1.conv2        an exact module name
    re:layer1\\..*         a regular expression matched against the full module name
    type:Linear           a module class name (the class or any base class)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from torch import nn

from dlcompress.toolkit.errors import DLCompressError


@dataclass(frozen=True)
class Scope:
    """Module names, regex patterns and type names; a module is in scope if any of them matches."""

    names: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    types: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for p in self.patterns:
            try:
                re.compile(p)
            except re.error as e:
                raise DLCompressError(f"scope pattern {p!r} is not a valid regular expression: {e}") from None

    @classmethod
    def parse(cls, items: Iterable[str] | None) -> Scope:
        """``["layer4.1.conv2", "re:layer1\\..*", "type:Linear"]`` -> Scope (commas also separate items)."""
        names: list[str] = []
        patterns: list[str] = []
        types: list[str] = []
        for raw in items or ():
            for item in (s.strip() for s in str(raw).split(",")):
                if not item:
                    continue
                if item.startswith("re:"):
                    patterns.append(item[3:])
                elif item.startswith("type:"):
                    types.append(item[5:])
                else:
                    names.append(item)
        return cls(tuple(names), tuple(patterns), tuple(types))

    def __bool__(self) -> bool:
        return bool(self.names or self.patterns or self.types)

    def matches(self, name: str, module: nn.Module) -> bool:
        if name in self.names:
            return True
        if any(re.fullmatch(p, name) for p in self.patterns):
            return True
        return any(cls.__name__ in self.types for cls in type(module).__mro__)

    def select(self, model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
        """(name, module) pairs of ``model`` in scope, in definition order."""
        for name, module in model.named_modules():
            if name and self.matches(name, module):
                yield name, module

    def validate(self, model: nn.Module) -> None:
        """Every exact name must exist and every pattern/type match something; a typo is a user error."""
        known = dict(model.named_modules())
        for n in self.names:
            if n not in known:
                import difflib

                close = difflib.get_close_matches(n, list(known), n=3)
                raise DLCompressError(f"scope names layer {n!r}, which the model does not have",
                                      ("did you mean " + " or ".join(repr(c) for c in close) + "?") if close
                                      else "module names look like layer1.0.conv1; use re:PATTERN or type:Conv2d")
        for p in self.patterns:
            if not any(re.fullmatch(p, name) for name in known if name):
                raise DLCompressError(f"scope pattern re:{p} matches no layer of the model",
                                      "patterns must match the whole module name, e.g. re:layer4\\..*")
        for t in self.types:
            if not any(t in (c.__name__ for c in type(m).__mro__) for m in known.values()):
                raise DLCompressError(f"scope type:{t} matches no layer of the model", "use a class name such as Conv2d or Linear")

    def to_json(self) -> dict[str, list[str]]:
        return {"names": list(self.names), "patterns": list(self.patterns), "types": list(self.types)}

    def strings(self) -> list[str]:
        """The scope back in its string form."""
        return [*self.names, *(f"re:{p}" for p in self.patterns), *(f"type:{t}" for t in self.types)]
