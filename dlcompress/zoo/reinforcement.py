"""Reinforcement learning: the AlphaGo policy and value networks, an AlphaGo Zero dual-head residual network,
the Nature DQN Q-network and the A3C actor-critic. In-house modules written from the papers' method sections.

Go inputs are ``[batch, planes, 19, 19]`` float feature planes (made from positions of rule-played games by the
``go-positions`` dataset); Atari inputs are 4 stacked 84x84 grey frames in [0, 1] (``atari-frames``).
"""

from __future__ import annotations

import torch
from torch import nn

from dlcompress.toolkit.spec import ModelCard, ModelSpec, TensorSpec, Tolerance
from dlcompress.zoo.evaluators import register_task_evaluators
from dlcompress.zoo.registry import register

ALPHAGO = "Silver et al., Mastering the game of Go with deep neural networks and tree search, Nature 2016"
ALPHAGO_ZERO = "Silver et al., Mastering the game of Go without human knowledge, Nature 2017"
DQN_PAPER = "Mnih et al., Human-level control through deep reinforcement learning, Nature 2015"
A3C_PAPER = "Mnih et al., Asynchronous Methods for Deep Reinforcement Learning, 2016 (arXiv:1602.01783)"
BOARD = 19
ALPHAGO_PLANES = 48  # the SL/RL policy network's feature planes; the value network adds a colour plane
ZERO_PLANES = 17  # 8 past positions of each colour + the colour to play
ATARI_ACTIONS = 18  # the full Atari action set


def _conv_relu(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2), nn.ReLU(inplace=True))


def he_init(module: nn.Module) -> nn.Module:
    """He (fan-in, ReLU) normal init of every conv and linear weight, zero biases: activations keep their scale
    through a deep plain ReLU stack (PyTorch's default init shrinks them layer by layer, until a random-init
    value head's single-filter conv is dead everywhere and its output constant)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def alphago_trunk(planes: int, filters: int, layers: int) -> nn.Sequential:
    """Layer 1: 5x5 conv of ``filters``; layers 2..``layers``: 3x3 convs; ReLU after each, 19x19 kept."""
    return he_init(nn.Sequential(_conv_relu(planes, filters, 5),
                                 *(_conv_relu(filters, filters, 3) for _ in range(layers - 1))))


class AlphaGoPolicy(nn.Module):
    """The SL policy network: 12 conv layers of ``filters`` (192 in the match version), then a 1x1 conv to one
    plane with a separate bias per board point, and a softmax over the 361 points."""

    def __init__(self, planes: int = ALPHAGO_PLANES, filters: int = 192, layers: int = 12, board: int = BOARD) -> None:
        super().__init__()
        self.trunk = alphago_trunk(planes, filters, layers)
        self.head = he_init(nn.Conv2d(filters, 1, 1, bias=False))
        self.position_bias = nn.Parameter(torch.zeros(board * board))

    def forward(self, planes: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.trunk(planes)).flatten(1) + self.position_bias
        return torch.softmax(logits, dim=1)


class AlphaGoValue(nn.Module):
    """The value network: the policy trunk (plus one more 3x3 layer), a 1x1 conv to one plane, a 256-unit
    ReLU layer and one tanh unit: the expected outcome for the player to move."""

    def __init__(self, planes: int = ALPHAGO_PLANES + 1, filters: int = 192, layers: int = 12, hidden: int = 256,
                 board: int = BOARD) -> None:
        super().__init__()
        self.trunk = alphago_trunk(planes, filters, layers)
        self.head = he_init(nn.Sequential(nn.Conv2d(filters, 1, 1), nn.ReLU(inplace=True), nn.Flatten(),
                                          nn.Linear(board * board, hidden), nn.ReLU(inplace=True)))
        self.out = nn.Sequential(nn.Linear(hidden, 1), nn.Tanh())

    def forward(self, planes: torch.Tensor) -> torch.Tensor:
        return self.out(self.head(self.trunk(planes)))


class ResidualBlock(nn.Module):
    """conv-BN-ReLU-conv-BN, skip connection, ReLU (AlphaGo Zero's tower block)."""

    def __init__(self, filters: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(filters, filters, 3, padding=1, bias=False), nn.BatchNorm2d(filters), nn.ReLU(inplace=True),
            nn.Conv2d(filters, filters, 3, padding=1, bias=False), nn.BatchNorm2d(filters),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class AlphaGoZeroNet(nn.Module):
    """The dual-head residual network: a conv block and ``blocks`` residual blocks of ``filters`` (19 x 256 in
    the 20-block version), a policy head (2-filter 1x1 conv, FC to 362 = 361 points + pass, softmax) and a
    value head (1-filter 1x1 conv, FC 256, FC 1, tanh)."""

    def __init__(self, planes: int = ZERO_PLANES, filters: int = 256, blocks: int = 19, board: int = BOARD) -> None:
        super().__init__()
        points = board * board

        def conv_bn(cin: int, cout: int, k: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.tower = nn.Sequential(*conv_bn(planes, filters, 3), *(ResidualBlock(filters) for _ in range(blocks)))
        self.policy = nn.Sequential(*conv_bn(filters, 2, 1), nn.Flatten(), nn.Linear(2 * points, points + 1))
        self.value = nn.Sequential(*conv_bn(filters, 1, 1), nn.Flatten(), nn.Linear(points, 256), nn.ReLU(inplace=True),
                                   nn.Linear(256, 1), nn.Tanh())

    def forward(self, planes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.tower(planes)
        return torch.softmax(self.policy(h), dim=1), self.value(h)


class AtariTrunk(nn.Module):
    """Convolutions over stacked 84x84 frames, then one fully connected ReLU layer."""

    def __init__(self, frames: int, convs: tuple[tuple[int, int, int], ...], hidden: int, size: int = 84) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = frames
        for cout, k, stride in convs:
            layers += [nn.Conv2d(cin, cout, k, stride), nn.ReLU(inplace=True)]
            cin, size = cout, (size - k) // stride + 1
        self.convs = nn.Sequential(*layers, nn.Flatten())
        self.fc = nn.Sequential(nn.Linear(cin * size * size, hidden), nn.ReLU(inplace=True))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.fc(self.convs(frames))


NATURE_CONVS = ((32, 8, 4), (64, 4, 2), (64, 3, 1))
A3C_CONVS = ((16, 8, 4), (32, 4, 2))


class DQN(nn.Module):
    """The Nature DQN Q-network: 32 8x8/4, 64 4x4/2, 64 3x3/1 convs, FC 512, one Q-value per action."""

    def __init__(self, actions: int = ATARI_ACTIONS, frames: int = 4, convs: tuple = NATURE_CONVS,
                 hidden: int = 512) -> None:
        super().__init__()
        self.trunk = AtariTrunk(frames, convs, hidden)
        self.q = nn.Linear(hidden, actions)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.q(self.trunk(frames))


class ActorCritic(nn.Module):
    """The A3C feed-forward network: a shared trunk (16 8x8/4, 32 4x4/2 convs, FC 256), a softmax policy head
    and a linear value head."""

    def __init__(self, actions: int = ATARI_ACTIONS, frames: int = 4, convs: tuple = A3C_CONVS,
                 hidden: int = 256) -> None:
        super().__init__()
        self.trunk = AtariTrunk(frames, convs, hidden)
        self.policy = nn.Linear(hidden, actions)
        self.value = nn.Linear(hidden, 1)

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(frames)
        return torch.softmax(self.policy(h), dim=1), self.value(h)


# Static int8 touches the convs and linears only, so the output softmax stays float: most of 361 move
# probabilities lie near 1/361, which an 8-bit output grid cannot resolve (measured on alphago_policy with ORT
# QOperator: quantizing the softmax left 2 distinct output values and 0/32 moves agreeing with fp32; without it
# 26/32 agree at cosine 0.9998).
WEIGHTED_OPS = ("Conv", "MatMul", "Gemm")


def _board(planes: int) -> tuple[TensorSpec, ...]:
    return (TensorSpec("planes", ("batch", planes, BOARD, BOARD)),)


def _register_policy(name: str, tiny_of: str | None, **args: int) -> None:
    register(ModelSpec(
        name=name, task="go-policy", builder=AlphaGoPolicy, inputs=_board(ALPHAGO_PLANES),
        outputs=(TensorSpec("move_probs", ("batch", BOARD * BOARD)),), build_args=args,
        hints={"onnxruntime": {"op_types": WEIGHTED_OPS}},
        tolerance=Tolerance(atol=1e-5, rtol=1e-3),
        card=ModelCard(
            family="alphago", paper=ALPHAGO, default_data="go-positions", num_classes=BOARD * BOARD, tiny_of=tiny_of,
        ),
    ))


def _register_value(name: str, tiny_of: str | None, **args: int) -> None:
    register(ModelSpec(
        name=name, task="go-value", builder=AlphaGoValue, inputs=_board(ALPHAGO_PLANES + 1),
        outputs=(TensorSpec("value", ("batch", 1)),), build_args=args,
        tolerance=Tolerance(atol=1e-4, rtol=1e-3),
        card=ModelCard(family="alphago", paper=ALPHAGO, default_data="go-positions", tiny_of=tiny_of),
    ))


def _register_zero(name: str, tiny_of: str | None, **args: int) -> None:
    register(ModelSpec(
        name=name, task="go-policy-value", builder=AlphaGoZeroNet, inputs=_board(ZERO_PLANES),
        outputs=(TensorSpec("move_probs", ("batch", BOARD * BOARD + 1)), TensorSpec("value", ("batch", 1))),
        build_args=args, hints={"onnxruntime": {"op_types": WEIGHTED_OPS}},
        tolerance=Tolerance(atol=1e-4, rtol=1e-3),
        card=ModelCard(
            family="alphago", paper=ALPHAGO_ZERO, default_data="go-positions", num_classes=BOARD * BOARD + 1,
            tiny_of=tiny_of,
        ),
    ))


def _register_atari(name: str, tiny_of: str | None, builder: type[nn.Module], paper: str,
                    outputs: tuple[TensorSpec, ...], task: str, **args: object) -> None:
    register(ModelSpec(
        name=name, task=task, builder=builder, inputs=(TensorSpec("frames", ("batch", 4, 84, 84)),), outputs=outputs,
        build_args=args, hints={"onnxruntime": {"op_types": WEIGHTED_OPS}},
        tolerance=Tolerance(atol=1e-4, rtol=1e-3),
        card=ModelCard(
            family="atari", paper=paper, default_data="atari-frames", num_classes=ATARI_ACTIONS, tiny_of=tiny_of,
        ),
    ))


_register_policy("alphago_policy", None, filters=192, layers=12)
_register_policy("alphago_policy_tiny", "alphago_policy", filters=16, layers=3)
_register_value("alphago_value", None, filters=192, layers=12)
_register_value("alphago_value_tiny", "alphago_value", filters=16, layers=3, hidden=32)
_register_zero("alphago_zero", None, filters=256, blocks=19)
_register_zero("alphago_zero_tiny", "alphago_zero", filters=16, blocks=2)

_Q = (TensorSpec("q_values", ("batch", ATARI_ACTIONS)),)
_PV = (TensorSpec("policy", ("batch", ATARI_ACTIONS)), TensorSpec("value", ("batch", 1)))
_register_atari("dqn", None, DQN, DQN_PAPER, _Q, "action-values")
_register_atari("dqn_tiny", "dqn", DQN, DQN_PAPER, _Q, "action-values",
                convs=((8, 8, 4), (16, 4, 2), (16, 3, 1)), hidden=32)
_register_atari("a3c", None, ActorCritic, A3C_PAPER, _PV, "actor-critic")
_register_atari("a3c_tiny", "a3c", ActorCritic, A3C_PAPER, _PV, "actor-critic", convs=((8, 8, 4), (8, 4, 2)), hidden=32)

register_task_evaluators(("go-policy", "go-policy-value", "action-values", "actor-critic"))
