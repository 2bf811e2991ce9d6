"""Zoo queries for ``dlcompress zoo list/show``: specs with params and MACs computed from the real model."""

from __future__ import annotations

from dataclasses import dataclass

from dlcompress.toolkit.complexity import spec_complexity
from dlcompress.toolkit.progress import progress_bar
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
            "name": s.name, "family": s.card.family, "task": s.task, "params": self.params, "macs": self.macs,
            "inputs": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype} for t in s.inputs],
            "outputs": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype} for t in s.outputs],
            "default_data": s.card.default_data, "paper": s.card.paper, "tolerance": {"atol": s.tolerance.atol, "rtol": s.tolerance.rtol},
            "tiny_of": s.card.tiny_of, "export_notes": s.card.export_notes or None, "error": self.error,
        }


def zoo_entry(name: str) -> ZooEntry:
    spec = MODELS.get(name)
    try:
        params, macs = spec_complexity(spec)
        return ZooEntry(spec, params, macs)
    except Exception as e:  # noqa: BLE001 - one broken entry must not hide the others
        return ZooEntry(spec, None, None, f"{type(e).__name__}: {e}")


def zoo_names(patterns: tuple[str, ...] = ("*",)) -> list[str]:
    """Entry names matching any of the fnmatch ``patterns``, sorted, each once."""
    return sorted({n for p in patterns or ("*",) for n in MODELS.names(p)})


def zoo_entries(patterns: tuple[str, ...] = ("*",)) -> list[ZooEntry]:
    """The matching entries with params and MACs, under a progress bar: detectors count their MACs on a real
    forward pass (NMS has no meta kernel), a few seconds each at full size."""
    names = zoo_names(patterns)
    entries = []
    with progress_bar("counting params and MACs", len(names)) as bar:
        for n in names:
            entries.append(zoo_entry(n))
            bar.advance()
    return entries
