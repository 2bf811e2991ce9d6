"""Transformer, BERT and GPT: signature, complexity, ONNX export (dynamic batch and length), masks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dlcompress.zoo import MODELS
from tests.zoo.family_checks import (
    check_forward_matches_signature,
    check_tiny_entry,
    check_tiny_pairs,
    family_entries,
)

FAMILIES = {"transformer", "bert", "gpt"}
TINY = family_entries(FAMILIES, tiny=True)
REAL = family_entries(FAMILIES, tiny=False)


def test_every_real_entry_has_a_tiny_variant():
    check_tiny_pairs(REAL, TINY, ["bert", "gpt", "transformer"])


@pytest.mark.parametrize("name", TINY)
def test_tiny_forward_complexity_and_export(name, tmp_path):
    check_tiny_entry(name, tmp_path)


def test_sinusoidal_encoding():
    from dlcompress.zoo.sequence import sinusoidal_encoding

    pe = sinusoidal_encoding(50, 16)
    pos, i = 7, 3
    assert pe[pos, 2 * i].item() == pytest.approx(math.sin(pos / 10000 ** (2 * i / 16)), abs=1e-6)
    assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(pos / 10000 ** (2 * i / 16)), abs=1e-6)


def test_transformer_decoder_is_causal():
    spec = MODELS.get("transformer_tiny")
    torch.manual_seed(0)
    model = spec.build().eval()
    src = torch.randint(0, 1000, (1, 9))
    tgt = torch.randint(0, 1000, (1, 7))
    y = model(src, tgt)
    tgt2 = tgt.clone()
    tgt2[0, 4:] = (tgt2[0, 4:] + 1) % 1000
    y2 = model(src, tgt2)
    assert torch.allclose(y[:, :4], y2[:, :4], atol=1e-6) and not torch.allclose(y[:, 4:], y2[:, 4:])
    src2 = src.clone()
    src2[0, 0] = (src2[0, 0] + 1) % 1000
    assert not torch.allclose(model(src2, tgt)[:, 0], y[:, 0])  # every target position attends to the source
    assert model.out.weight is model.embed.weight  # tied output projection


def test_hf_models_are_built_from_configs_with_symmetry_broken():
    """No download (random init from a config), no two equal biases / LayerNorm weights (the exporter would
    merge them and ORT's QOperator quantizer would then write an invalid model)."""
    from dlcompress.zoo.sequence import BertClassifier, GptLM

    for model in (BertClassifier(1000, 32, 2, 2, 64), GptLM(1000, 32, 2, 2)):
        tensors = [p.detach().numpy().tobytes() for n, p in model.named_parameters()
                   if n.endswith("bias") or ("LayerNorm" in n or ".ln_" in n) and n.endswith("weight")]
        assert len(tensors) > 10 and len(set(tensors)) == len(tensors)


def test_bert_attention_mask_hides_padding():
    spec = MODELS.get("bert_tiny")
    torch.manual_seed(0)
    model = spec.build().eval()
    ids = torch.randint(4, 1000, (1, 12))
    mask = torch.ones_like(ids)
    mask[0, 8:] = 0
    y = model(ids, mask)
    ids2 = ids.clone()
    ids2[0, 8:] = 5
    assert torch.allclose(model(ids2, mask), y, atol=1e-6)
    assert not torch.allclose(model(ids2, torch.ones_like(ids)), y)


def test_gpt_is_causal():
    spec = MODELS.get("gpt_tiny")
    torch.manual_seed(0)
    model = spec.build().eval()
    ids = torch.randint(0, 1000, (1, 10))
    y = model(ids, torch.ones_like(ids))
    ids2 = ids.clone()
    ids2[0, 6] = (ids2[0, 6] + 1) % 1000
    y2 = model(ids2, torch.ones_like(ids))
    assert torch.allclose(y[:, :6], y2[:, :6], atol=1e-6) and not torch.allclose(y[:, 6:], y2[:, 6:])
    assert np.isfinite(y.detach().numpy()).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL)
def test_real_size_builds_and_runs(name):
    check_forward_matches_signature(MODELS.get(name), batch=1)
