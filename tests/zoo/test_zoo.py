"""Registry-wide zoo tests, parametrized over MODELS itself: a new entry is tested without a new test file.

Per-family files (test_zoo_*.py) add ONNX export validation and quantization of the tiny variants.
"""

import pytest
import torch

from dlcompress.toolkit.complexity import count_params, spec_complexity
from dlcompress.zoo import MODELS

NAMES = MODELS.names()
REAL = [n for n in NAMES if MODELS.get(n).card.tiny_of is None]
TINY = [n for n in NAMES if MODELS.get(n).card.tiny_of is not None]
SMALL_ENOUGH_TO_BE_ITS_OWN_TINY = 1_000_000  # params


def _concrete(shape, batch, dims):
    return tuple(batch if d == "batch" else dims.get(d, d) for d in shape)


def test_zoo_covers_the_course():
    """At least 30 real entries, covering every line of the course list."""
    assert len(REAL) >= 30, REAL
    tasks = {MODELS.get(n).task for n in REAL}
    for task in ("image-classification", "object-detection", "semantic-segmentation", "image-generation",
                 "metric-embedding", "few-shot-classification", "node-classification", "speech-recognition",
                 "text-classification", "language-modeling", "translation", "audio-generation", "go-policy",
                 "go-value", "action-values", "actor-critic"):
        assert task in tasks, task


def test_every_entry_has_a_tested_tiny_variant():
    """The guard: real entries are only forward-tested in the slow run, so each needs a tiny twin here."""
    for name in REAL:
        spec = MODELS.get(name)
        twins = [t for t in TINY if MODELS.get(t).card.tiny_of == name]
        if not twins:
            params, _ = spec_complexity(spec)
            assert params < SMALL_ENOUGH_TO_BE_ITS_OWN_TINY, f"{name} has no tiny variant"
    for name in TINY:
        assert MODELS.get(name).card.tiny_of in REAL, f"{name}: tiny_of names no real entry"


def test_every_spec_is_complete():
    """Static metadata of every registered entry (nothing is built): one test for the whole registry that lists
    every incomplete entry at once, instead of one test per entry."""
    problems = []
    for name in NAMES:
        s = MODELS.get(name)
        fields = {"family": s.card.family, "task": s.task, "inputs": s.inputs, "outputs": s.outputs, "paper": s.card.paper}
        missing = [f for f, value in fields.items() if not value]
        if missing:
            problems.append(f"{name}: no {', '.join(missing)}")
        if not (s.tolerance.atol > 0 and s.tolerance.rtol >= 0):
            problems.append(f"{name}: tolerance atol={s.tolerance.atol} rtol={s.tolerance.rtol} (need atol > 0, rtol >= 0)")
        outputs = [t.name for t in s.outputs]
        if len(set(outputs)) != len(outputs):
            problems.append(f"{name}: duplicate output names {outputs}")
    assert NAMES and not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


TESTED = TINY + [n for n in REAL if not any(MODELS.get(t).card.tiny_of == n for t in TINY)]


@pytest.mark.parametrize("name", TESTED)
def test_forward_matches_declared_signature_and_metadata(name):
    """Outputs (names, shapes) match the declaration; params/MACs computed on the meta device equal the real model's."""
    spec = MODELS.get(name)
    torch.manual_seed(0)
    model = spec.build().eval()
    batch = spec.fixed_batch or 2
    feeds = spec.example_inputs(batch)
    with torch.no_grad():
        out = model(*(torch.from_numpy(feeds[t.name]) for t in spec.inputs))
    outs = out if isinstance(out, (tuple, list)) else (out,)
    assert len(outs) == len(spec.outputs), (name, len(outs))
    for t, o in zip(spec.outputs, outs):
        declared = _concrete(t.shape, batch, spec.dims)
        assert len(declared) == o.dim(), (name, t.name, declared, tuple(o.shape))
        for d, got in zip(declared, o.shape):
            if isinstance(d, int):
                assert d == got, (name, t.name, declared, tuple(o.shape))
    params, macs = spec_complexity(spec)
    assert params == count_params(model) and macs > 0

# Real sizes: each family's file builds and runs every real entry once under @pytest.mark.slow.
