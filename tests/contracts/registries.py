"""The plug-in kinds the contract templates cover, how each registry is loaded, and the guard's discovery.

Every template is parametrized over :func:`contract_names` (the registry after its own lazy loader ran, plus
the names the backends declare, so a backend that is not installed still shows up, skipped with its install
hint). The guard compares that set with what a fresh interpreter finds:

- ``fresh``: the registry imported fresh (every ``dlcompress`` module dropped first) and its loader forced;
- ``full``: the registry after importing every module of the package (name -> the module that defines it).

A name in ``full`` but not ``fresh`` is registered only as a side effect of importing some unrelated module:
lookups by name then depend on what else a process imported. Run ``python -m tests.contracts.registries`` to
print the discovery as JSON.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MARKER = "DISCOVERY-JSON:"


def _force_runtimes(module: Any) -> None:
    """RUNTIMES has no loader of its own: ``get_runtime`` imports every runtime module on a miss."""
    from dlcompress.toolkit.errors import UnknownNameError

    try:
        module.get_runtime("-no-such-runtime-")
    except UnknownNameError:
        pass


@dataclass(frozen=True)
class Kind:
    """Where a kind's registry lives and how to make it load everything it lazily can."""

    module: str
    attr: str
    force: Callable[[Any], None] | None = None
    backend_field: str | None = None
    """The :class:`~dlcompress.toolkit.backends.Backend` field naming this kind's plug-in (declared names)."""


KINDS: dict[str, Kind] = {
    "exporter": Kind("dlcompress.exporters", "EXPORTERS", backend_field="exporter"),
    "runtime": Kind("dlcompress.toolkit.runtimes", "RUNTIMES", _force_runtimes, backend_field="runtime"),
    "quantizer": Kind("dlcompress.toolkit.stages.quantize", "QUANTIZERS", backend_field="format"),
    "stage": Kind("dlcompress.recipes.pipeline", "STEPS"),
    "dataset": Kind("dlcompress.toolkit.data", "DATASETS"),
    "model-source": Kind("dlcompress.recipes.loading", "MODEL_SOURCES"),
}


def load_registry(kind: str) -> Any:
    """The kind's registry, with its lazy loader forced."""
    k = KINDS[kind]
    module = importlib.import_module(k.module)
    if k.force is not None:
        k.force(module)
    registry = getattr(module, k.attr)
    registry.names()  # runs the registry's loader, if it has one
    return registry


def declared_names(kind: str) -> dict[str, Any]:
    """Names the backends declare for this kind (present whether or not the backend is installed)."""
    field = KINDS[kind].backend_field
    if field is None:
        return {}
    from dlcompress.toolkit.backends import BACKENDS

    out: dict[str, Any] = {}
    for b in (BACKENDS.get(n) for n in BACKENDS.names()):
        out.setdefault(str(getattr(b, field)), b)
    return out


def contract_names(kind: str) -> list[str]:
    """What the kind's template is parametrized over."""
    return sorted(set(load_registry(kind).names()) | set(declared_names(kind)))


def backends_for(kind: str, name: str) -> list[Any]:
    field = KINDS[kind].backend_field
    if field is None:
        return []
    from dlcompress.toolkit.backends import BACKENDS

    return [b for b in (BACKENDS.get(n) for n in BACKENDS.names()) if str(getattr(b, field)) == name]


def missing_backend_hint(kind: str, name: str) -> str | None:
    """The install hint of a backend this plug-in needs that is not installed (None when all are)."""
    from dlcompress.toolkit.errors import BackendUnavailableError

    for b in backends_for(kind, name):
        try:
            b.require()
        except BackendUnavailableError as e:
            return str(e)
    return None


# ---------------------------------------------------------------------------------------------------------
# discovery in a fresh interpreter


def _purge() -> None:
    for name in [m for m in sys.modules if m == "dlcompress" or m.startswith("dlcompress.")]:
        del sys.modules[name]


def _owner(entry: Any) -> str:
    return str(getattr(entry, "__module__", None) or type(entry).__module__)


def discover() -> dict[str, Any]:
    """``{kind: {"fresh": [...], "full": {name: module}, "fresh_error": str}, "import_failures": {...}}``."""
    out: dict[str, Any] = {}
    for kind in KINDS:
        _purge()
        try:
            out[kind] = {"fresh": load_registry(kind).names()}
        except Exception as e:  # noqa: BLE001 - reported by the guard
            out[kind] = {"fresh": [], "fresh_error": f"{type(e).__name__}: {e}"}
    _purge()
    import dlcompress

    failures: dict[str, str] = {}
    for info in pkgutil.walk_packages(dlcompress.__path__, "dlcompress."):
        if info.name.rsplit(".", 1)[-1] == "__main__":  # runs the CLI
            continue
        try:
            importlib.import_module(info.name)
        except BaseException as e:  # noqa: BLE001 - a module that does not import is what the guard reports
            failures[info.name] = f"{type(e).__name__}: {e}"[:300]
    for kind in KINDS:
        try:
            registry = load_registry(kind)
            out[kind]["full"] = {n: _owner(registry.get(n)) for n in registry.names()}
        except Exception as e:  # noqa: BLE001
            out[kind]["full"] = {}
            out[kind]["full_error"] = f"{type(e).__name__}: {e}"
    out["import_failures"] = failures
    return out


class BackgroundDiscovery:
    """:func:`discover` in a subprocess (so nothing this test process imported counts), started early so that it
    runs while the contract tests do."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._result: dict[str, Any] | None = None

    def start(self) -> None:
        import os

        if self._proc is not None:
            return
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "DLCOMPRESS_QUIET": "1", "PYTHONPATH": path}
        self._proc = subprocess.Popen([sys.executable, "-m", "tests.contracts.registries"], cwd=ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def result(self, timeout: float = 300) -> dict[str, Any]:
        if self._result is None:
            self.start()
            assert self._proc is not None
            out, err = self._proc.communicate(timeout=timeout)
            lines = [ln for ln in out.splitlines() if ln.startswith(MARKER)]
            if self._proc.returncode != 0 or not lines:
                raise RuntimeError(f"registry discovery failed (exit {self._proc.returncode}): {err[-2000:]}")
            self._result = json.loads(lines[-1][len(MARKER):])
        return self._result

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.communicate()


def guard_problems(kind: str, discovery: dict[str, Any], excluded: dict[str, str],
                   known_unreachable: dict[str, str]) -> tuple[list[str], list[str]]:
    """(problems, known bugs still present) for the guard of ``kind``."""
    found = discovery[kind]
    fresh, full = set(found["fresh"]), dict(found["full"])
    declared = set(declared_names(kind))
    params = set(contract_names(kind))
    problems: list[str] = []
    for key in ("fresh_error", "full_error"):
        if key in found:
            problems.append(f"loading the {kind} registry failed: {found[key]}")
    known = set(known_unreachable)
    if params - known != (fresh | declared) - known:
        problems.append(f"the {kind} contract is parametrized over {sorted(params)}, but a fresh import of the "
                        f"registry (loader forced) plus the backends' names gives {sorted(fresh | declared)}")
    # a plug-in of a backend that is not installed may be left out on purpose (exporters/__init__ does)
    unreachable = {n: m for n, m in full.items() if n not in fresh and missing_backend_hint(kind, n) is None}
    for name, module in sorted(unreachable.items()):
        if name not in known:
            problems.append(f"{kind} {name!r} is registered by {module}, which the registry's own loader does not "
                            "import (it exists only in processes that happen to import that module)")
    for name in sorted(known - set(unreachable)):
        problems.append(f"{kind} {name!r} is now reachable through its registry: remove it from KNOWN_UNREACHABLE")
    for name in sorted(declared - set(full)):
        hint = missing_backend_hint(kind, name)
        if hint is None:
            problems.append(f"a backend declares {kind} {name!r} and is installed, but nothing registers it")
    for name, reason in excluded.items():
        if name not in set(full) | declared:
            problems.append(f"EXCLUDED lists {kind} {name!r}, which is not registered (stale entry)")
        if not reason.strip():
            problems.append(f"EXCLUDED {kind} {name!r} needs a reason")
    still = [f"{kind} {n!r}: {known_unreachable[n]}" for n in sorted(known & set(unreachable))]
    return problems, still


if __name__ == "__main__":
    result = discover()
    print(MARKER + json.dumps(result), flush=True)
