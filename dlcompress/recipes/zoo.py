"""Zoo queries for ``dlcompress zoo list/show``: specs with params and MACs computed from the real model."""

from __future__ import annotations

from dataclasses import dataclass

from dlcompress.toolkit.complexity import spec_complexity
from dlcompress.zoo import MODELS, ModelSpec


@dataclass(frozen=True)
class ZooEntry:
    spec: ModelSpec
    params: int | None
    macs: int | None
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        s = self.spec
        return {
            "name": s.name, "family": s.family, "task": s.task, "params": self.params, "macs": self.macs,
            "inputs": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype} for t in s.inputs],
            "outputs": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype} for t in s.outputs],
            "default_data": s.default_data, "paper": s.paper, "tolerance": {"atol": s.atol, "rtol": s.rtol},
            "tiny_of": s.tiny_of, "export_notes": s.export_notes or None, "error": self.error,
        }


def zoo_entry(name: str) -> ZooEntry:
    spec = MODELS.get(name)
    try:
        params, macs = spec_complexity(spec)
        return ZooEntry(spec, params, macs)
    except Exception as e:  # noqa: BLE001 - one broken entry must not hide the others
        return ZooEntry(spec, None, None, f"{type(e).__name__}: {e}")


def zoo_entries(pattern: str = "*") -> list[ZooEntry]:
    return [zoo_entry(n) for n in MODELS.names(pattern)]
