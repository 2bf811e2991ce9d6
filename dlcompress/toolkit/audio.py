"""Audio signal helpers shared by the speech data sources and the audio zoo entries: mu-law companding
(WaveNet's 256 classes), a log-mel front end in pure torch ops (exports to ONNX) and greedy CTC decoding."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MU_LAW_LEVELS = 256
SAMPLE_RATE = 16000
ALPHABET = "_ abcdefghijklmnopqrstuvwxyz'"  # index 0 is the CTC blank
N_MELS = 80


def mu_law_encode(audio: np.ndarray, levels: int = MU_LAW_LEVELS) -> np.ndarray:
    """Waveform in [-1, 1] -> mu-law class indices in [0, levels)."""
    mu = levels - 1
    y = np.sign(audio) * np.log1p(mu * np.abs(np.clip(audio, -1, 1))) / np.log1p(mu)
    return np.clip(((y + 1) / 2 * mu + 0.5).astype(np.int64), 0, mu)


def mu_law_compand(audio: np.ndarray, levels: int = MU_LAW_LEVELS) -> np.ndarray:
    """Waveform in [-1, 1] -> the mu-law quantized waveform, back in [-1, 1] (WaveNet's input)."""
    return (mu_law_encode(audio, levels).astype(np.float32) / (levels - 1) * 2 - 1).astype(np.float32)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, fmin: float = 0.0,
                   fmax: float | None = None) -> np.ndarray:
    """Triangular filters equally spaced on the HTK mel scale, ``[n_mels, n_fft // 2 + 1]``."""
    fmax = fmax or sample_rate / 2

    def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    lower, center, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lower) / (center - lower)
    down = (upper - freqs[None]) / (upper - center)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


class LogMel(nn.Module):
    """Waveform ``[batch, samples]`` -> log-mel energies ``[batch, n_mels, frames]`` (25 ms Hann windows every
    10 ms at 16 kHz; ``frames = 1 + (samples - n_fft) // hop``). Pure torch ops, so it exports to ONNX."""

    def __init__(self, sample_rate: int = SAMPLE_RATE, n_fft: int = 400, hop: int = 160, n_mels: int = N_MELS,
                 floor: float = 1e-6) -> None:
        super().__init__()
        self.n_fft, self.hop, self.floor = n_fft, hop, floor
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
        window = 0.5 - 0.5 * torch.cos(2 * math.pi * n / n_fft)  # periodic Hann
        angle = 2 * math.pi * k * n / n_fft
        basis = torch.cat([torch.cos(angle) * window, -torch.sin(angle) * window])  # [2 * bins, n_fft]
        self.register_buffer("basis", basis.float()[:, None, :], persistent=False)
        self.register_buffer("mel", torch.from_numpy(mel_filterbank(n_mels, n_fft, sample_rate)), persistent=False)

    def frames(self, samples: int) -> int:
        return 1 + (samples - self.n_fft) // self.hop

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        spec = F.conv1d(audio[:, None, :], self.basis, stride=self.hop)  # [batch, 2 * bins, frames]
        re, im = spec.chunk(2, dim=1)
        power = re * re + im * im
        return torch.log(torch.matmul(self.mel, power) + self.floor)


def ctc_greedy_decode(log_probs: np.ndarray, alphabet: str = ALPHABET) -> list[str]:
    """Best path decoding: arg-max per step, merge repeats, drop blanks (index 0). ``[batch, steps, C]``."""
    best = np.asarray(log_probs).argmax(-1)
    out = []
    for path in best:
        keep = np.r_[True, path[1:] != path[:-1]] & (path != 0)
        out.append("".join(alphabet[i] for i in path[keep]))
    return out
