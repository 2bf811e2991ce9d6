"""StageContract: every torch -> torch step registered in the pipeline's STEPS (prune, depthwise, distill),
run through its registered entry on small_cnn trained on real Fashion-MNIST, with small options.

A stage returns a new torch artifact (a new module; the input's module, weights and lineage unchanged) with
one more lineage record named after the stage; params and MACs, recounted from the modules, move in the
direction the stage declares in STAGE_EFFECTS (and agree with what its record says); the result still runs
and gives outputs of the spec's shapes.

PipelineStep declares what a step takes and makes, not what it changes: a new torch step needs a line in
STAGE_EFFECTS (the guard fails until it has one).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.contracts.conftest import fingerprint, torch_copy
from tests.contracts.registries import guard_problems

# how a stage changes the model: "fewer" / "same" for counts, "changed" for the weights
STAGE_EFFECTS: dict[str, dict[str, str]] = {
    "prune": {"params": "fewer", "macs": "fewer"},
    "depthwise": {"params": "fewer", "macs": "fewer"},
    "distill": {"params": "same", "macs": "same", "weights": "changed"},
}
EXCLUDED: dict[str, str] = {
    "export": "not a torch -> torch stage: it makes an exported artifact through EXPORTERS (ExporterContract)",
    "quantize": "not a torch -> torch stage: it takes an exported artifact to QUANTIZERS (QuantizerContract)",
}
KNOWN_BUGS: dict[tuple[str, ...], str] = {}
KNOWN_UNREACHABLE: dict[str, str] = {}


def step_options():
    """Every step's option group, small: half the channels pruned, 128 images x 1 epoch of distillation."""
    from dlcompress.recipes.pipeline import StepOptions
    from dlcompress.toolkit.stages.distill import DistillOptions
    from dlcompress.toolkit.stages.prune import PruneOptions
    from dlcompress.toolkit.training import TrainOptions

    return StepOptions(prune=PruneOptions(ratio=0.5), train=TrainOptions(epochs=1, batch_size=64, train_samples=128),
                       distill=DistillOptions(eval_samples=128))


class Ran:
    """Each stage run once through its STEPS entry, with fingerprints of its input."""

    def __init__(self, reference, fashion, transform) -> None:
        self.reference, self.fashion, self.transform = reference, fashion, transform
        self._done: dict[str, tuple] = {}

    def get(self, name: str) -> tuple:
        if name not in self._done:
            from dlcompress.recipes.common import Prepared
            from dlcompress.recipes.pipeline import (
                STEPS,
                PipelineRequest,
                PipelineState,
            )
            from dlcompress.toolkit.runtimes import RuntimeOptions

            step = STEPS.get(name)
            assert (step.accepts, step.produces) == ("torch", "torch"), f"{name} is not a torch stage: EXCLUDE it"
            if name not in STAGE_EFFECTS:
                pytest.fail(f"stage {name!r} declares no effect: add it to STAGE_EFFECTS")
            art = torch_copy(self.reference)
            request = PipelineRequest(model=art.spec.name, steps=(name,), options=step_options())
            prepared = Prepared(art, self.fashion, self.transform)
            state = PipelineState(request, prepared, RuntimeOptions(), None, art, teacher=torch_copy(self.reference))
            before = fingerprint(art)
            variant = step.run(state, name)
            self._done[name] = (art, variant.artifact, before, fingerprint(art))
        return self._done[name]


@pytest.fixture(scope="module")
def ran(reference, fashion, transform):
    return Ran(reference, fashion, transform)


def counts(artifact) -> tuple[int, int]:
    from dlcompress.toolkit.complexity import count_macs, count_params
    from dlcompress.toolkit.stages.structure import example_inputs

    return count_params(artifact.model), count_macs(artifact.model, example_inputs(artifact))


class StageContract:
    kind = "stage"

    def test_returns_a_new_torch_artifact(self, plugin, ran):
        from dlcompress.toolkit.artifact import Format

        art, out, _, _ = ran.get(plugin)
        assert out is not art and out.format is Format.TORCH
        assert out.model is not None and out.model is not art.model
        assert not any(p is q for p in out.model.parameters() for q in art.model.parameters())
        assert out.lineage[: len(art.lineage)] == art.lineage and len(out.lineage) == len(art.lineage) + 1
        assert out.lineage[-1].stage == plugin

    def test_does_not_mutate_its_input(self, plugin, ran):
        _, _, before, after = ran.get(plugin)
        assert after == before

    def test_changes_params_and_macs_as_declared(self, plugin, ran):
        art, out, _, _ = ran.get(plugin)
        declared = STAGE_EFFECTS[plugin]
        (p0, m0), (p1, m1) = counts(art), counts(out)
        for what, (a, b) in {"params": (p0, p1), "macs": (m0, m1)}.items():
            expected = declared[what]
            assert {"fewer": b < a, "same": b == a, "more": b > a}[expected], f"{what}: {a} -> {b}, declared {expected}"
        if declared.get("weights") == "changed":
            assert fingerprint(out)[-1] != fingerprint(art)[-1]
        effect = out.lineage[-1].effect  # what the record says agrees with the recount
        for key, value in (("params_before", p0), ("params_after", p1), ("macs_before", m0), ("macs_after", m1)):
            if key in effect:
                assert effect[key] == value, (key, effect[key], value)

    def test_result_runs(self, plugin, ran):
        from dlcompress.toolkit.runtimes import RuntimeOptions, get_runtime

        _, out, _, _ = ran.get(plugin)
        spec = out.spec
        result = get_runtime("torch")(out, RuntimeOptions()).run(spec.example_inputs(2))
        for t in spec.outputs:
            assert result[t.name].shape == t.concrete_shape(2, **spec.dims) and np.isfinite(result[t.name]).all()


class TestStages(StageContract):
    """StageContract over every name in STEPS (export and quantize are EXCLUDED: other contracts cover them)."""


def test_stage_guard(discovery):
    """Every step a fresh process can register is covered: run by StageContract (with a declared effect) or
    EXCLUDED with a reason."""
    from tests.contracts.registries import contract_names

    problems, known = guard_problems("stage", discovery, EXCLUDED, KNOWN_UNREACHABLE)
    undeclared = [n for n in contract_names("stage") if n not in STAGE_EFFECTS and n not in EXCLUDED]
    problems += [f"stage {n!r} has no entry in STAGE_EFFECTS (nor in EXCLUDED)" for n in undeclared]
    problems += [f"STAGE_EFFECTS lists {n!r}, which is not registered" for n in STAGE_EFFECTS
                 if n not in contract_names("stage")]
    assert not problems, "\n".join(problems)
    if known:
        pytest.xfail("BUG: " + "; ".join(known))
