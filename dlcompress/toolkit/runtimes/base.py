"""Runtime: load an artifact and run numpy feeds through it. Used by validation, evaluation and benchmarks."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from dlcompress.toolkit.artifact import Artifact, Format
from dlcompress.toolkit.errors import InferenceError
from dlcompress.toolkit.registry import Registry


def feed_summary(feeds: dict[str, np.ndarray]) -> str:
    """``name float32[1,3,224,224], ...``: what a runtime was given, for an error message."""
    return ", ".join(f"{k} {np.asarray(v).dtype}[{','.join(map(str, np.shape(v)))}]" for k, v in feeds.items())


@dataclass(frozen=True)
class RuntimeOptions:
    """Execution settings shared by every runtime. ``threads=None`` means all cores; ``affinity`` pins the
    calling thread to those cores while this runtime is timed (the edge stand-in: one pinned core)."""

    threads: int | None = None
    device: str = "cpu"
    affinity: tuple[int, ...] | None = None
    inference_precision: str | None = None
    """Compute precision for runtimes that choose one (OpenVINO: f32, bf16, f16, or "default" = the
    device's choice, bf16 on CPUs with AVX512_BF16/AMX). None = the runtime's exact default (f32)."""

    @property
    def num_threads(self) -> int:
        return self.threads or default_threads()


def default_threads() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


class Runtime(ABC):
    """A loaded model that maps ``{input name: array}`` to ``{output name: array}``."""

    name: str = "runtime"
    formats: frozenset[Format] = frozenset()
    precisions: tuple[str, ...] = ()
    """Values ``RuntimeOptions.inference_precision`` may take for this runtime (empty: it has no such choice)."""

    def __init__(self, artifact: Artifact, options: RuntimeOptions) -> None:
        self.artifact = artifact
        self.options = options

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.artifact.spec.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.artifact.spec.outputs]

    @abstractmethod
    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One inference; outputs keyed by name."""

    def arrays(self, feeds: dict[str, np.ndarray], names: list[str] | None = None) -> list[np.ndarray]:
        """The feeds in the model's input order; a missing input is one :class:`InferenceError`."""
        names = self.input_names if names is None else names
        missing = [n for n in names if n not in feeds]
        if missing:
            raise InferenceError(f"{self.name}: input {', '.join(missing)} of {self.artifact.spec.name} is not in the feeds",
                                 f"inputs given: {feed_summary(feeds)}; the model takes {', '.join(names)}")
        return [feeds[n] for n in names]

    def describe(self) -> dict[str, object]:
        """What actually runs (provider, precision, threads): written into reports."""
        return {"runtime": self.name, "threads": self.options.num_threads, "device": self.options.device}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


RUNTIMES: Registry[type[Runtime]] = Registry("runtime")
