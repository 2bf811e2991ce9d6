"""Fidelity evaluators for the tasks of the non-image zoo families, registered in ``metrics.FIDELITY``.

A compressed model should make the same decisions as its reference: the same move (Go policy), the same greedy
action (DQN, A3C), the same class (BERT, GCN nodes), the same next token (GPT, Transformer). Each evaluator
reports that arg-max agreement as ``top1_agreement`` next to the dense measures (cosine, absolute differences)
over all float outputs, so a value head is compared too.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dlcompress.toolkit.metrics import (
    FIDELITY,
    Fidelity,
    FidelityEvaluator,
    Outputs,
    first_output,
    joint_fidelity,
)


def agreement_fidelity(axis: int) -> FidelityEvaluator:
    """Arg-max agreement of the first output along ``axis`` (the class / move / token axis), plus the dense
    comparison of all outputs."""

    def evaluate(reference: Outputs, output: Outputs) -> Fidelity:
        ref, out = first_output(reference), first_output(output)
        agree = float(np.mean(np.argmax(ref, axis=axis) == np.argmax(out, axis=axis))) if ref.size else 1.0
        return dataclasses.replace(joint_fidelity(reference, output), top1_agreement=agree)

    return evaluate


TASK_AXES = {
    "go-policy": 1,            # the move
    "go-policy-value": 1,      # the move (the value head enters the dense measures)
    "action-values": 1,        # the greedy action
    "actor-critic": 1,         # the most likely action
    "text-classification": 1,  # the class
    "node-classification": -1,  # each node's class
    "language-modeling": -1,   # each position's next token
    "translation": -1,         # each target position's next token
    "speech-recognition": -1,  # each step's character (or blank)
    "audio-generation": 1,     # each step's mu-law level
}


def register_task_evaluators(tasks: tuple[str, ...]) -> None:
    """Register the agreement evaluator of each task (once; a zoo family calls this for its own tasks)."""
    for task in tasks:
        if task not in FIDELITY:
            FIDELITY.add(task, agreement_fidelity(TASK_AXES[task]))
