"""Audio: WaveNet (dilated causal convolutions, gated activations, residual and skip connections) and a CTC
acoustic model (log-mel front end, conv + bidirectional LSTM encoder, CTC head, greedy decoding).

The log-mel front end (:class:`LogMel`) is plain torch (an STFT as a strided conv with a windowed DFT basis,
a mel filterbank matmul, a log), so it exports to ONNX (tested). It runs in the data transform rather than
inside the CTC model, so int8 quantization covers the encoder only: before the log, the mel power of the
spoken-digits audio spans 1e-6 to 1e3, nine decades that one 8-bit grid cannot resolve, while the log-mel
features (-13.8 to 7) quantize well. The ``spoken-digits`` dataset applies it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dlcompress.toolkit.audio import (
    ALPHABET,
    MU_LAW_LEVELS,
    N_MELS,
)
from dlcompress.toolkit.spec import ModelCard, ModelSpec, TensorSpec, Tolerance
from dlcompress.zoo.evaluators import register_task_evaluators
from dlcompress.zoo.registry import register

WAVENET = "van den Oord et al., WaveNet: A Generative Model for Raw Audio, 2016 (arXiv:1609.03499)"
GRAVES = ("Graves et al., Connectionist Temporal Classification, ICML 2006; encoder after Amodei et al., "
          "Deep Speech 2, 2015 (arXiv:1512.02595)")


# ---------------------------------------------------------------------------------------------------------
# WaveNet


class CausalConv1d(nn.Conv1d):
    """A 1-d convolution that sees only the present and the past: left padding of ``dilation * (k - 1)``."""

    def __init__(self, cin: int, cout: int, kernel: int, dilation: int = 1) -> None:
        super().__init__(cin, cout, kernel, dilation=dilation)
        self.left = dilation * (kernel - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.left, 0)))


class GatedResidualBlock(nn.Module):
    """``z = tanh(W_f * x) . sigmoid(W_g * x)`` (dilated causal), a 1x1 residual and a 1x1 skip output."""

    def __init__(self, residual: int, gate: int, skip: int, dilation: int, kernel: int = 2) -> None:
        super().__init__()
        self.dilated = CausalConv1d(residual, 2 * gate, kernel, dilation)
        self.residual = nn.Conv1d(gate, residual, 1)
        self.skip = nn.Conv1d(gate, skip, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f, g = self.dilated(x).chunk(2, dim=1)
        z = torch.tanh(f) * torch.sigmoid(g)
        return x + self.residual(z), self.skip(z)


class WaveNet(nn.Module):
    """Stacks of dilated causal gated blocks (dilations 1, 2, ..., 2^(layers-1), repeated ``stacks`` times),
    summed skips, ReLU-1x1-ReLU-1x1 to a categorical distribution over mu-law levels for the next sample.

    ``forward(audio [batch, 1, time])`` (mu-law companded waveform) returns ``logits [batch, levels, time]``;
    the logits at ``t`` predict sample ``t + 1``.
    """

    def __init__(self, stacks: int = 3, layers: int = 10, residual: int = 64, gate: int = 64, skip: int = 256,
                 levels: int = MU_LAW_LEVELS) -> None:
        super().__init__()
        self.input = CausalConv1d(1, residual, 2)
        self.blocks = nn.ModuleList(GatedResidualBlock(residual, gate, skip, 2 ** i)
                                    for _ in range(stacks) for i in range(layers))
        self.output = nn.Sequential(nn.ReLU(), nn.Conv1d(skip, skip, 1), nn.ReLU(), nn.Conv1d(skip, levels, 1))

    @property
    def receptive_field(self) -> int:
        return 2 + sum(b.dilated.left for b in self.blocks)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        x = self.input(audio)
        skips = 0
        for block in self.blocks:
            x, s = block(x)
            skips = skips + s
        return self.output(skips)


# ---------------------------------------------------------------------------------------------------------
# CTC acoustic model


class CTCAcousticModel(nn.Module):
    """Log-mel features ``[batch, n_mels, frames]`` -> per-step log-probabilities ``[batch, steps, alphabet]``.

    Two 1-d convs (the first with stride 2: ``steps = ceil(frames / 2)``), a bidirectional LSTM stack and a
    linear CTC head over ``ALPHABET`` (blank first). Decode with :func:`ctc_greedy_decode`.
    """

    def __init__(self, n_mels: int = N_MELS, channels: int = 256, hidden: int = 256, layers: int = 3,
                 alphabet: int = len(ALPHABET), dropout: float = 0.1) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv1d(n_mels, channels, 5, stride=2, padding=2), nn.BatchNorm1d(channels), nn.ReLU(),
            nn.Conv1d(channels, channels, 5, padding=2), nn.BatchNorm1d(channels), nn.ReLU(),
        )
        self.rnn = nn.LSTM(channels, hidden, layers, batch_first=True, bidirectional=True,
                           dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(2 * hidden, alphabet)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(self.convs(features).transpose(1, 2))
        return torch.log_softmax(self.head(h), dim=-1)


def _register_wavenet(name: str, tiny_of: str | None, time: int, **args: int) -> None:
    register(ModelSpec(
        name=name, task="audio-generation", builder=WaveNet,
        inputs=(TensorSpec("audio", ("batch", 1, "time"), value_range=(-1.0, 1.0)),),
        outputs=(TensorSpec("logits", ("batch", MU_LAW_LEVELS, "time")),), build_args=args, dims={"time": time},
        tolerance=Tolerance(atol=1e-3, rtol=1e-3),
        card=ModelCard(
            family="wavenet", paper=WAVENET, default_data="speech-waveforms", num_classes=MU_LAW_LEVELS,
            tiny_of=tiny_of,
        ),
    ))


def _register_ctc(name: str, tiny_of: str | None, **args: int) -> None:
    frames = 200  # 2 s of 16 kHz audio (10 ms hop): the spoken-digits utterances (at most ~1.8 s) are padded to it
    register(ModelSpec(
        name=name, task="speech-recognition", builder=CTCAcousticModel,
        inputs=(TensorSpec("features", ("batch", N_MELS, "frames"), value_range=(-14.0, 7.0)),),
        outputs=(TensorSpec("log_probs", ("batch", "steps", len(ALPHABET))),), build_args=args,
        dims={"frames": frames, "steps": (frames + 1) // 2},
        hints={"quantize": {"method": "dynamic"}, "onnx": {"routes": ("torchscript", "dynamo")}},
        tolerance=Tolerance(atol=1e-4, rtol=1e-3),
        card=ModelCard(
            family="ctc", paper=GRAVES, default_data="spoken-digits", num_classes=len(ALPHABET), tiny_of=tiny_of,
            export_notes="TorchScript exporter first: torch.export traces the LSTM step by step with a dynamic frame "
                     "count (~50 s at 40 frames, minutes at 200); both routes give one ONNX LSTM op",
        ),
    ))


_register_wavenet("wavenet", None, 4000, stacks=3, layers=10, residual=64, gate=64, skip=256)
_register_wavenet("wavenet_tiny", "wavenet", 1000, stacks=1, layers=4, residual=16, gate=16, skip=32)
_register_ctc("ctc_asr", None, channels=256, hidden=256, layers=3)
_register_ctc("ctc_asr_tiny", "ctc_asr", channels=32, hidden=32, layers=1)

register_task_evaluators(("speech-recognition", "audio-generation"))
