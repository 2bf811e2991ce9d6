"""WaveNet and the CTC acoustic model: signature, complexity, ONNX export, causality, front end, decoding."""

from __future__ import annotations

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

FAMILIES = {"wavenet", "ctc"}
TINY = family_entries(FAMILIES, tiny=True)
REAL = family_entries(FAMILIES, tiny=False)


def test_every_real_entry_has_a_tiny_variant():
    check_tiny_pairs(REAL, TINY, ["ctc_asr", "wavenet"])


@pytest.mark.parametrize("name", TINY)
def test_tiny_forward_complexity_and_export(name, tmp_path):
    check_tiny_entry(name, tmp_path)


def test_wavenet_is_causal_with_the_declared_receptive_field():
    from dlcompress.zoo.audio import WaveNet

    torch.manual_seed(0)
    net = WaveNet(stacks=2, layers=4, residual=8, gate=8, skip=16).eval()
    assert net.receptive_field == 2 + 2 * (1 + 2 + 4 + 8)
    x = torch.rand(1, 1, 100) * 2 - 1
    y = net(x)
    x2 = x.clone()
    x2[..., 60:] = 0.0  # the future of step 59
    y2 = net(x2)
    assert torch.equal(y[..., :60], y2[..., :60])
    assert not torch.allclose(y[..., 60:], y2[..., 60:])
    x3 = x.clone()
    x3[..., : 60 - net.receptive_field] = 0.0  # older than the receptive field of step 59
    assert torch.allclose(net(x3)[..., 59], y[..., 59], atol=1e-6)


def test_wavenet_has_gated_residual_and_skip_paths():
    from dlcompress.zoo.audio import GatedResidualBlock, WaveNet

    net = WaveNet()
    blocks = [b for b in net.modules() if isinstance(b, GatedResidualBlock)]
    assert len(blocks) == 30 and [b.dilated.dilation[0] for b in blocks[:10]] == [2 ** i for i in range(10)]
    assert blocks[0].dilated.out_channels == 2 * 64  # filter and gate halves
    assert blocks[0].skip.out_channels == 256


def test_mu_law_round_trip():
    from dlcompress.toolkit.audio import mu_law_compand, mu_law_encode

    x = np.linspace(-1, 1, 100_001).astype(np.float32)
    codes = mu_law_encode(x)
    assert codes.min() == 0 and codes.max() == 255 and np.all(np.diff(codes) >= 0)
    companded = np.sign(x) * np.log1p(255 * np.abs(x)) / np.log1p(255)
    assert np.abs(mu_law_compand(x) - companded).max() <= 1 / 255 + 1e-6  # 8-bit steps of the companded signal
    quiet = np.abs(x) < 0.05
    assert len(np.unique(codes[quiet])) > 0.3 * 256  # mu-law spends its levels on quiet samples


def test_log_mel_matches_a_numpy_stft_and_exports(tmp_path):
    import onnxruntime as ort

    from dlcompress.toolkit.audio import LogMel, mel_filterbank

    front = LogMel()
    rng = np.random.default_rng(0)
    audio = (np.sin(2 * np.pi * 440 * np.arange(8000) / 16000) * 0.5 + rng.normal(0, 0.01, 8000)).astype(np.float32)
    got = front(torch.from_numpy(audio)[None])[0].numpy()
    frames = 1 + (len(audio) - 400) // 160
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    stft = np.stack([np.fft.rfft(audio[i * 160 : i * 160 + 400] * window) for i in range(frames)], axis=1)
    ref = np.log(mel_filterbank(80, 400, 16000) @ np.abs(stft) ** 2 + 1e-6)
    assert got.shape == (80, frames) and np.abs(got - ref).max() < 1e-3
    peak_band = np.argmax(got.mean(1))
    fb = mel_filterbank(80, 400, 16000)
    assert fb[peak_band, round(440 / 40)] > 0  # the 440 Hz tone lands in the band that covers 440 Hz
    path = tmp_path / "logmel.onnx"
    torch.onnx.export(front, (torch.from_numpy(audio)[None],), str(path), dynamo=False, input_names=["audio"],
                      output_names=["features"], dynamic_axes={"audio": {0: "batch", 1: "samples"}})
    out = ort.InferenceSession(str(path)).run(None, {"audio": audio[None, :6000]})[0]
    assert np.abs(out[0] - got[:, : out.shape[2]]).max() < 1e-3


def test_ctc_greedy_decoding_merges_repeats_and_drops_blanks():
    from dlcompress.toolkit.audio import ALPHABET, ctc_greedy_decode

    def path(text: str) -> np.ndarray:
        lp = np.full((len(text), len(ALPHABET)), -10.0)
        for i, ch in enumerate(text):
            lp[i, ALPHABET.index(ch)] = 0.0
        return lp

    out = ctc_greedy_decode(np.stack([path("ttw__oo_o"), path("_f_ii_vee")]))
    assert out == ["twoo", "five"]


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL)
def test_real_size_builds_and_runs(name):
    check_forward_matches_signature(MODELS.get(name), batch=1)
