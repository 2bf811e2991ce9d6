"""One generic registry: name -> entry, duplicate names are an error, misses suggest the closest name."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from dlcompress.toolkit.errors import DLCompressError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of plug-ins (models, exporters, runtimes, quantizers, datasets...)."""

    def __init__(self, kind: str, loader: Callable[[], None] | None = None) -> None:
        """``loader`` (optional) imports the modules that fill the registry; it runs on first lookup."""
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._loader = loader

    def _ensure_loaded(self) -> None:
        loader, self._loader = self._loader, None
        if loader is not None:
            loader()

    def add(self, name: str, entry: T) -> T:
        """Register ``entry`` under ``name``; registering a name twice is an error."""
        if name in self._entries:
            raise DLCompressError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def wrap(entry: T) -> T:
            return self.add(name, entry)

        return wrap

    def get(self, name: str) -> T:
        """Return the entry called ``name`` or raise :class:`UnknownNameError` with the closest names."""
        self._ensure_loaded()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(f"unknown {self.kind} {name!r}", self.suggest(name)) from None

    def suggest(self, name: str) -> str:
        """A 'did you mean' hint for a missed name."""
        self._ensure_loaded()
        close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
        if close:
            return "did you mean " + " or ".join(repr(c) for c in close) + "?"
        shown = ", ".join(sorted(self._entries)[:12])
        more = "" if len(self._entries) <= 12 else ", ..."
        return f"known: {shown}{more}"

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names matching an fnmatch ``pattern``."""
        self._ensure_loaded()
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._ensure_loaded()
        return len(self._entries)
